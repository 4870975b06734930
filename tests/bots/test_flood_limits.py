"""Telegram's flood limits: over a limit, a call answers 429 with the wait in retry_after."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import RetryAfter

from tests.bots.harness import GROUP, TOKEN, USER, BotFactory, ManualClock, run
from wakeful.testing.bot_api import BotApiCore, RateLimits, Throttled


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without PTB_TIMEDELTA, reading RetryAfter.retry_after emits a deprecation warning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def _send(core: BotApiCore, chat_id: int, method: str = "sendMessage") -> tuple[int, dict]:
    return core.dispatch(TOKEN, method, {"chat_id": chat_id, "text": "x"})


def test_a_second_message_within_a_second_is_throttled(
    make_bot: BotFactory, core: BotApiCore, clock: ManualClock
) -> None:
    core.inject_text(USER, "hi")
    core.set_limits(RateLimits())

    async def scenario() -> dtm.timedelta:
        async with make_bot() as bot:
            first = await bot.send_message(USER, "one")
            clock.mono += 0.4
            with pytest.raises(RetryAfter) as caught:
                # Edits share the chat's window with new messages.
                await bot.edit_message_text("one, edited", chat_id=USER, message_id=first.id)
            # Chat actions are not limited.
            assert await bot.send_chat_action(USER, "typing")
            clock.mono += 0.6
            await bot.send_message(USER, "two")
            return caught.value.retry_after

    assert run(scenario) == dtm.timedelta(seconds=1)
    assert [r.text for r in core.sent(USER) if r.kind != "chat_action"] == ["one", "two"]
    assert core.throttled() == Throttled({"editMessageText": 1}, {USER: 1})


def test_the_envelope_carries_retry_after_like_telegrams(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.set_limits(RateLimits())
    _send(core, USER)
    assert _send(core, USER) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )


def test_a_group_gets_twenty_messages_a_minute(core: BotApiCore, clock: ManualClock) -> None:
    core.inject_text(GROUP, "hi", user_id=7, chat_type="group")
    core.set_limits(RateLimits(per_chat_per_second=None))
    for _ in range(20):
        assert _send(core, GROUP)[0] == 200
        clock.mono += 1.0
    clock.mono += 0.5  # the first message went out 20.5 s ago
    status, body = _send(core, GROUP)
    assert (status, body["parameters"]) == (429, {"retry_after": 40})
    clock.mono += 39.5
    assert _send(core, GROUP)[0] == 200
    # Private chats have no per-minute limit.
    core.inject_text(USER, "hi")
    assert all(_send(core, USER)[0] == 200 for _ in range(25))


def test_the_bot_wide_limit_spans_chats(core: BotApiCore, clock: ManualClock) -> None:
    chats = [USER, USER + 1, USER + 2]
    for chat in chats:
        core.inject_text(chat, "hi")
    core.set_limits(RateLimits(per_bot_per_second=2, per_chat_per_second=None))
    assert [_send(core, chat)[0] for chat in chats] == [200, 200, 429]
    clock.mono += 0.999
    assert _send(core, USER + 2)[0] == 429
    clock.mono += 0.001
    assert _send(core, USER + 2)[0] == 200
    assert core.throttled() == Throttled({"sendMessage": 2}, {USER + 2: 2})
    assert core.throttled().total == 2


def test_a_refused_call_changes_nothing(core: BotApiCore, clock: ManualClock) -> None:
    core.inject_text(USER, "hi")
    core.set_limits(RateLimits())
    assert _send(core, USER)[0] == 200
    for _ in range(5):
        clock.mono += 0.15
        assert _send(core, USER)[0] == 429
    # Refused calls did not take a slot, so the window frees one second after the first.
    clock.mono += 0.25
    assert _send(core, USER)[0] == 200
    assert [r.kind for r in core.sent(USER)] == ["message", "message"]
    assert core.message(USER, 3) is not None and core.message(USER, 4) is None


def test_only_the_configured_methods_count(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.set_limits(RateLimits(methods=frozenset({"sendchataction"})))
    actions = {"chat_id": USER, "action": "typing"}
    assert [core.dispatch(TOKEN, "sendChatAction", actions)[0] for _ in range(2)] == [200, 429]
    assert [_send(core, USER)[0] for _ in range(3)] == [200, 200, 200]
    with pytest.raises(ValueError, match="unknown"):
        core.set_limits(RateLimits(methods=frozenset({"sendMesage"})))
    with pytest.raises(ValueError, match="at least 1"):
        RateLimits(per_chat_per_second=0)


def test_limits_are_off_by_default_and_can_be_switched_off(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    assert [_send(core, USER)[0] for _ in range(5)] == [200] * 5
    core.set_limits(RateLimits())  # counts from now on, not the calls before
    assert [_send(core, USER)[0] for _ in range(2)] == [200, 429]
    core.set_limits(None)
    assert _send(core, USER)[0] == 200
    assert core.throttled().by_method == {"sendMessage": 1}
