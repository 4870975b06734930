"""The seeds' success criterion: messages sent while a long turn runs are acknowledged at once."""

from __future__ import annotations

import time

from tests.conftest import BotApi

CHAT = 4242


def _ack_time(bot_api: BotApi, message_id: int) -> float | None:
    for record in bot_api.core.sent(CHAT):
        if record.kind == "reaction" and record.message_id == message_id \
                and record.reaction and "👀" in record.reaction:
            return record.at_monotonic
    return None


def test_two_messages_two_seconds_apart_both_get_eyes_within_a_second_while_a_turn_runs(
    bot_api: BotApi, run_service
) -> None:
    run_service(bot_api.config([CHAT], brain_delay=5.0, cap=4))

    first = bot_api.core.inject_text(CHAT, "first, slow one", user_id=CHAT)
    first_sent = time.monotonic()
    first_id = first["message"]["message_id"]
    assert bot_api.core.wait_for(lambda c: _ack_time(bot_api, first_id) is not None, 10)
    # Two seconds into the five-second turn, the user writes again.
    bot_api.core.wait_for(lambda c: False, timeout=max(0.0, first_sent + 2.0 - time.monotonic()))
    second = bot_api.core.inject_text(CHAT, "second, while busy", user_id=CHAT)
    second_sent = time.monotonic()
    second_id = second["message"]["message_id"]
    assert bot_api.core.wait_for(lambda c: _ack_time(bot_api, second_id) is not None, 10)

    first_ack, second_ack = _ack_time(bot_api, first_id), _ack_time(bot_api, second_id)
    assert first_ack is not None and second_ack is not None
    assert first_ack - first_sent < 1.0
    assert second_ack - second_sent < 1.0
    assert bot_api.replies(CHAT) == [], "the first turn cannot have finished yet"
    typing = [r for r in bot_api.core.sent(CHAT) if r.kind == "chat_action"]
    assert typing and typing[0].action == "typing"

    replies = bot_api.wait_replies(CHAT, 2, timeout=30)
    assert [r.text for r in replies] == ["echo: first, slow one", "echo: second, while busy"]
    assert [r.reply_to_message_id for r in replies] == [first_id, second_id]
