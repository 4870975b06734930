"""Delivery end to end: formatting, its fallback, blocked chats, the ambiguous send, drafts.

Real python-telegram-bot over loopback HTTP against the local Bot API server, the real
service, the stand-in brain. The storm that proves priorities under load lives in
tests/storms/test_delivery_storm.py.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

from tests.conftest import BotApi
from wakeful.delivery.policy import RESENT
from wakeful.testing.bot_api import RateLimits

CHAT = 870_001


def _entity_types(bot_api: BotApi, chat: int, message_id: int) -> list[str]:
    stored = bot_api.core.message(chat, message_id)
    assert stored is not None
    return [entity["type"] for entity in stored.get("entities", [])]


def test_markdown_answers_arrive_as_telegram_entities(bot_api: BotApi, run_service) -> None:
    run_service(bot_api.config([CHAT], brain_delay=0.0))
    bot_api.core.inject_text(CHAT, "**bold** and `code`", user_id=CHAT)
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.text == "echo: bold and code"
    assert reply.parse_mode is None, "entities, never a parse mode to get wrong"
    assert sorted(_entity_types(bot_api, CHAT, reply.message_id)) == ["bold", "code"]


def test_entities_telegram_refuses_fall_back_to_plain_text(bot_api: BotApi,
                                                           run_service) -> None:
    run_service(bot_api.config([CHAT], brain_delay=0.0))
    bot_api.core.fail_next("sendMessage", 400,
                           "Bad Request: can't parse entities: unsupported entity")
    bot_api.core.inject_text(CHAT, "**bold** and `code`", user_id=CHAT)
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.text == "echo: bold and code", "the same words, without the formatting"
    assert _entity_types(bot_api, CHAT, reply.message_id) == []
    assert bot_api.core.call_counts()["sendMessage"] == 2


def test_a_blocked_chat_ends_its_calls_and_works_again_once_unblocked(
    bot_api: BotApi, run_service
) -> None:
    service = run_service(bot_api.config([CHAT], brain_delay=0.2))
    bot_api.core.block_chat(CHAT)
    bot_api.core.inject_text(CHAT, "then I blocked the bot", user_id=CHAT)
    assert bot_api.core.wait_for(lambda c: service.journal.chat_totals(CHAT)["gone"]
                                 and service.journal.owed(CHAT) == [], timeout=30)
    assert service.journal.chat_totals(CHAT)["gone"] == "Forbidden: bot was blocked by the user"
    outbound = service.ask("outbound")
    assert outbound["failed"].get("chat_gone", 0) >= 1
    # Nothing keeps knocking: the 403 ended every call for the chat. A typing action
    # already on its way when the 👀's 403 came back may still land (and get its own 403),
    # so the count is taken once nothing is in flight any more.
    def settled(_: object) -> bool:
        out = service.ask("outbound")
        return (out["in_flight"] == 0 and not any(out["waiting"].values())
                and service.ask("brain_pool")["running"] == [])

    assert bot_api.core.wait_for(settled, timeout=30)
    before = {k: v for k, v in bot_api.core.call_counts().items() if k != "getUpdates"}
    assert before.get("setMessageReaction") == 1 and before.get("sendChatAction", 0) <= 1, before
    assert "sendMessage" not in before and "editMessageText" not in before, before
    time.sleep(1.0)
    after = {k: v for k, v in bot_api.core.call_counts().items() if k != "getUpdates"}
    assert after == before

    bot_api.core.unblock_chat(CHAT)
    bot_api.core.inject_text(CHAT, "unblocked", user_id=CHAT)
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.text == "echo: unblocked"
    assert service.journal.chat_totals(CHAT)["gone"] is None, "a new message reopens the chat"


def test_a_send_whose_answer_was_lost_goes_again_marked_and_is_recorded_once(
    bot_api: BotApi, run_service
) -> None:
    journal = bot_api.new_journal()
    config = bot_api.config([CHAT], brain_delay=0.0, journal=journal)
    service = run_service(config)
    bot_api.core.lose_next_response("sendMessage")  # Telegram shows it; we never hear so
    bot_api.core.inject_text(CHAT, "are you there?", user_id=CHAT)
    first, second = bot_api.wait_replies(CHAT, 2)
    assert first.text == "echo: are you there?"
    assert second.text == RESENT + "echo: are you there?", "the copy says why it is there"
    assert bot_api.core.lost_responses() == {"sendMessage": 1}
    assert bot_api.core.wait_for(lambda c: service.journal.owed(CHAT) == [], timeout=10)
    service.stop()

    # The journal knows the answer went out: the next run does not send it a third time.
    run_service(config)
    bot_api.core.inject_text(CHAT, "and now?", user_id=CHAT)
    replies = bot_api.wait_replies(CHAT, 3)
    assert [r.text for r in replies][2:] == ["echo: and now?"]


def test_private_chats_see_the_answer_grow_as_a_draft_groups_do_not(
    bot_api: BotApi, run_service
) -> None:
    group = -870_002
    run_service(bot_api.config([CHAT], brain_delay=2.0))
    words = " ".join(f"word{n}" for n in range(40))
    bot_api.core.inject_text(CHAT, f"[[stream]] {words}", user_id=CHAT)
    bot_api.core.inject_text(group, f"[[stream]] {words}", user_id=CHAT, chat_type="group")
    (reply,) = bot_api.wait_replies(CHAT, 1)
    bot_api.wait_replies(group, 1)
    drafts = [r for r in bot_api.core.sent(CHAT) if r.kind == "draft"]
    assert len(drafts) >= 2, "the draft grows while the brain streams"
    assert len(drafts) <= 4, "throttled: about one draft a second"
    assert all(reply.text.startswith(d.text or "") for d in drafts), "a draft is a prefix"
    assert not any(r.kind == "draft" for r in bot_api.core.sent(group))


def test_tool_activity_shows_in_the_group_status_line(bot_api: BotApi, run_service) -> None:
    group = -870_003
    run_service(bot_api.config([CHAT], brain_delay=4.0))
    bot_api.core.inject_text(group, "[[tool pytest -q]] run the tests", user_id=CHAT,
                             chat_type="group")
    bot_api.wait_replies(group, 1, timeout=30)
    shown = [r.text for r in bot_api.core.sent(group) if r.kind in ("message", "edit")
             and r.reply_to_message_id is None]
    assert "🔧 Bash: pytest -q" in shown
    assert shown[-1] == "✅ Answered."


def test_the_done_reaction_replaces_the_eyes_once_answered(bot_api: BotApi,
                                                          run_service) -> None:
    config = bot_api.config([CHAT], brain_delay=0.0)
    run_service(replace(config, delivery=replace(config.delivery, done_reaction="👍")))
    update = bot_api.core.inject_text(CHAT, "thanks", user_id=CHAT)
    message_id = update["message"]["message_id"]
    bot_api.wait_replies(CHAT, 1)
    assert bot_api.core.wait_for(lambda c: any(
        r.kind == "reaction" and r.message_id == message_id and r.reaction == ("👍",)
        for r in c.sent(CHAT)), timeout=10)


def test_within_telegrams_limits_a_busy_group_gets_no_429(bot_api: BotApi,
                                                         run_service) -> None:
    """20 messages a minute per group, 1 a second per chat: wakeful paces itself."""
    group = -870_004
    bot_api.core.set_limits(RateLimits())
    # Wakeful's own limits are Telegram's by default (the sliding minute is unit-tested
    # in tests/delivery/test_schedule.py; here a second per message shows in real time).
    run_service(bot_api.config([CHAT], brain_delay=0.0, cap=4))
    for n in range(8):
        bot_api.core.inject_text(group, f"q{n}", user_id=CHAT, chat_type="group")
    replies = bot_api.wait_replies(group, 8, timeout=60)
    # In a group the brain reads who wrote each message.
    assert [r.text for r in replies] == [f"echo: User (id {CHAT}): q{n}" for n in range(8)]
    assert bot_api.core.throttled().total == 0
    gaps = [b.at_monotonic - a.at_monotonic for a, b in itertools.pairwise(replies)]
    assert min(gaps) >= 0.9, "never more than one message a second in one chat"
