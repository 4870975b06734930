"""Outages by time: a method keeps failing until the core's clock passes the outage's end."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import NetworkError, RetryAfter

from tests.bots.harness import TOKEN, USER, BotFactory, ManualClock, run
from wakeful.testing.bot_api import BotApiCore


def test_a_minute_long_outage_passes_with_the_clock_not_the_wall(
    make_bot: BotFactory, core: BotApiCore, clock: ManualClock
) -> None:
    core.inject_text(USER, "hi")
    core.outage("sendMessage", 502, seconds=60)

    async def scenario() -> None:
        async with make_bot() as bot:
            for advance in (0.0, 30.0, 29.9):
                clock.mono += advance
                with pytest.raises(NetworkError, match="Bad Gateway"):
                    await bot.send_message(USER, "anyone there?")
            # Other methods keep working during a method's outage.
            assert await bot.send_chat_action(USER, "typing")
            clock.mono += 0.1
            await bot.send_message(USER, "back")

    run(scenario)
    assert [r.text for r in core.sent(USER) if r.kind == "message"] == ["back"]
    assert core.outage_counts() == {"sendMessage": 3}
    assert core.call_counts()["sendMessage"] == 4


def test_a_flood_outage_tells_the_seconds_left(
    make_bot: BotFactory,
    core: BotApiCore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    core.inject_text(USER, "hi")
    core.outage("editMessageText", 429, seconds=30)

    async def scenario() -> list[dtm.timedelta]:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "draft")
            waits = []
            for advance in (0.0, 10.5, 19.0):
                clock.mono += advance
                with pytest.raises(RetryAfter) as caught:
                    await bot.edit_message_text("final", chat_id=USER, message_id=sent.id)
                waits.append(caught.value.retry_after)
            return waits

    assert run(scenario) == [dtm.timedelta(seconds=s) for s in (30, 20, 1)]


def test_an_outage_of_zero_seconds_ends_the_current_one(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.outage("sendMessage", 500, seconds=3600, description="Internal Server Error: oops")
    status, body = core.dispatch(TOKEN, "sendMessage", {"chat_id": USER, "text": "x"})
    assert (status, body["description"]) == (500, "Internal Server Error: oops")
    core.outage("sendmessage", 500, seconds=0)
    assert core.dispatch(TOKEN, "sendMessage", {"chat_id": USER, "text": "x"})[0] == 200


def test_outage_arguments_are_checked(core: BotApiCore) -> None:
    with pytest.raises(ValueError, match="unknown"):
        core.outage("sendMesage", 502, seconds=1)
    with pytest.raises(ValueError, match="error_code"):
        core.outage("sendMessage", 200, seconds=1)
    with pytest.raises(ValueError, match="seconds"):
        core.outage("sendMessage", 502, seconds=-1)
