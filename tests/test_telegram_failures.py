"""Telegram says no: every error gets a sensible answer and no user message is lost."""

from __future__ import annotations

import time

from tests.conftest import BotApi


def test_reply_rate_limited_with_429_is_sent_after_retry_after(bot_api: BotApi,
                                                              run_service) -> None:
    chat = 800_001
    run_service(bot_api.config([chat], brain_delay=0.1))
    bot_api.core.fail_next("sendMessage", 429, retry_after=1, times=2)
    bot_api.core.inject_text(chat, "one", user_id=chat)
    bot_api.core.inject_text(chat, "two", user_id=chat)
    replies = bot_api.wait_replies(chat, 2, timeout=30)
    assert [r.text for r in replies] == ["echo: one", "echo: two"]
    assert bot_api.core.call_counts()["sendMessage"] >= 4


def test_user_who_blocked_the_bot_does_not_stall_the_chat(bot_api: BotApi, run_service) -> None:
    chat = 800_002
    service = run_service(bot_api.config([chat], brain_delay=0.1))
    bot_api.core.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    bot_api.core.inject_text(chat, "lost to the block", user_id=chat)
    assert bot_api.core.wait_for(
        lambda c: service.journal.owed(chat) == []
        and c.call_counts().get("sendMessage", 0) >= 1, timeout=30)
    assert service.journal.chat_totals(chat)["gone"] == "Forbidden: bot was blocked by the user"
    bot_api.core.inject_text(chat, "unblocked again", user_id=chat)
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: unblocked again"


def test_reply_telegram_refuses_becomes_a_plain_notice(bot_api: BotApi, run_service) -> None:
    chat = 800_003
    run_service(bot_api.config([chat], brain_delay=0.1))
    bot_api.core.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    bot_api.core.inject_text(chat, "weird markup", user_id=chat)
    assert bot_api.core.wait_for(
        lambda c: any(r.kind == "message" for r in c.sent(chat)), timeout=30)
    notice = next(r for r in bot_api.core.sent(chat) if r.kind == "message")
    assert notice.text.startswith("⚠️ I had an answer but Telegram refused it")


def test_long_answer_is_split_at_telegrams_limit(bot_api: BotApi, run_service) -> None:
    chat = 800_004
    run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.inject_text(chat, "x" * 4096, user_id=chat)
    first, second = bot_api.wait_replies(chat, 2)
    # Each part leaves room for the line a resend after a lost response would add.
    assert 4000 < len(first.text) <= 4096
    assert first.text + second.text == "echo: " + "x" * 4096


def test_getupdates_errors_are_retried_and_nothing_is_lost(bot_api: BotApi, run_service) -> None:
    chat = 800_005
    service = run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.fail_next("getUpdates", 502, "Bad Gateway", times=2)
    bot_api.core.interrupt_long_polls()
    bot_api.core.inject_text(chat, "through the outage", user_id=chat)
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: through the outage"
    # Both failures are met (before or after the message, as the polls fall) and survived.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            service.ask("poller")["consecutive_failures"] == 0
            and bot_api.core.call_counts()["getUpdates"] >= 4):
        time.sleep(0.05)
    assert service.ask("poller")["consecutive_failures"] == 0


def test_malformed_update_is_skipped_and_the_next_message_still_answered(
    bot_api: BotApi, run_service
) -> None:
    chat = 800_006
    service = run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.inject_raw_update({"message": {"text": "no chat, no id"}})
    bot_api.core.inject_text(chat, "after the junk", user_id=chat)
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: after the junk"
    assert service.ask("poller")["malformed_updates"] == 1
    assert bot_api.core.pending_update_ids() == [], "the bad update's offset was confirmed"


def test_unknown_user_is_refused_once_and_never_reaches_a_brain(bot_api: BotApi,
                                                                run_service) -> None:
    allowed, stranger = 800_007, 800_008
    service = run_service(bot_api.config([allowed], brain_delay=0.0))
    bot_api.core.inject_text(stranger, "let me in", user_id=stranger)
    bot_api.core.inject_text(stranger, "please", user_id=stranger)
    bot_api.core.inject_text(allowed, "hi", user_id=allowed)
    bot_api.wait_replies(allowed, 1)
    assert bot_api.core.wait_for(lambda c: service.ask("poller")["refused"] == 2, timeout=10)
    refusals = [r for r in bot_api.core.sent(stranger) if r.kind == "message"]
    assert len(refusals) == 1
    assert "allowlist" in refusals[0].text and str(stranger) in refusals[0].text
    assert not any(r.kind == "reaction" for r in bot_api.core.sent(stranger))
    assert service.ask("brain_pool")["turns_started"] == 1
    assert service.journal.owed(stranger) == []
    assert f"chat:{stranger}" not in {c["id"] for c in service.ask("chats")["children"]}


def test_non_text_message_gets_a_clear_answer(bot_api: BotApi, run_service) -> None:
    chat = 800_009
    run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.inject_text(chat, "hello", user_id=chat)
    bot_api.wait_replies(chat, 1)
    bot_api.core.inject_raw_update({"message": {
        "message_id": 99, "date": 0, "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "U"}, "photo": []}})
    assert bot_api.core.wait_for(
        lambda c: len([r for r in c.sent(chat) if r.kind == "message"]) == 2, timeout=30)
    answer = [r for r in bot_api.core.sent(chat) if r.kind == "message"][-1]
    assert answer.text == "I can only read text messages for now."


def test_failed_reaction_does_not_cost_the_answer(bot_api: BotApi, run_service) -> None:
    chat = 800_010
    run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.fail_next("setMessageReaction", 400, "Bad Request: REACTION_INVALID")
    bot_api.core.inject_text(chat, "still answer me", user_id=chat)
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: still answer me"


def test_eyes_lost_to_a_transient_error_are_sent_again(bot_api: BotApi, run_service) -> None:
    chat = 800_011
    run_service(bot_api.config([chat], brain_delay=3.0))
    bot_api.core.fail_next("setMessageReaction", 502, "Bad Gateway")
    update = bot_api.core.inject_text(chat, "did you see me?", user_id=chat)
    message_id = update["message"]["message_id"]
    assert bot_api.core.wait_for(
        lambda c: any(r.kind == "reaction" and r.message_id == message_id
                      for r in c.sent(chat)), timeout=30)
    assert bot_api.core.call_counts()["setMessageReaction"] == 2
    assert bot_api.replies(chat) == [], "the 👀 came again while the answer was still due"


def test_eyes_are_not_sent_after_the_answer_they_would_announce(bot_api: BotApi,
                                                                run_service) -> None:
    chat = 800_012
    service = run_service(bot_api.config([chat], brain_delay=0.0))
    bot_api.core.outage("setMessageReaction", 502, seconds=3.0)
    update = bot_api.core.inject_text(chat, "quick one", user_id=chat)
    bot_api.wait_replies(chat, 1)
    assert bot_api.core.wait_for(lambda c: service.ask("outbound")["waiting"]["ack"] == 0
                                 and service.ask("outbound")["in_flight"] == 0, timeout=10)
    time.sleep(3.5)  # the outage is over; a 👀 still owed would go out now
    assert not any(r.kind == "reaction" and r.message_id == update["message"]["message_id"]
                   for r in bot_api.core.sent(chat)), "a 👀 after its answer means nothing"
    assert service.journal.owed(chat) == []
