"""Lost responses: the call takes effect on Telegram's side, but the bot never hears back."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot, Update
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from tests.bots.harness import TOKEN, USER, WAIT, BotFactory, run
from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer


def test_a_dropped_connection_loses_the_answer_but_not_the_message(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    core.inject_text(USER, "hi")
    core.lose_next_response("sendMessage")

    async def scenario() -> None:
        async with make_bot() as bot:
            with pytest.raises(NetworkError, match="Server disconnected") as caught:
                await bot.send_message(USER, "did this arrive?")
            # A plain network error, not a timeout: the server hung up at once.
            assert type(caught.value) is NetworkError
            await bot.send_message(USER, "second try")

    run(scenario)
    # The bot cannot tell, but the user now sees the message twice.
    assert [r.text for r in core.sent(USER)] == ["did this arrive?", "second try"]
    assert core.lost_responses() == {"sendMessage": 1}


def test_a_hung_answer_times_out_at_the_clients_read_timeout(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    core.inject_text(USER, "hi")
    core.lose_next_response("editMessageText", mode="hang")

    async def scenario() -> float:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "draft")
            started = time.monotonic()
            with pytest.raises(TimedOut):
                await bot.edit_message_text(
                    "final", chat_id=USER, message_id=sent.id, read_timeout=0.3
                )
            waited = time.monotonic() - started
            # The hung connection does not hold up later calls.
            await bot.send_chat_action(USER, "typing")
            return waited

    waited = run(scenario)
    assert 0.25 <= waited < WAIT
    assert [r.kind for r in core.sent(USER)] == ["message", "edit", "chat_action"]
    message = core.message(USER, 2)
    assert message is not None and message["text"] == "final"


def test_lost_updates_are_delivered_again(make_bot: BotFactory, core: BotApiCore) -> None:
    update_id = core.inject_text(USER, "only once, please")["update_id"]
    core.lose_next_response("getUpdates")

    async def scenario() -> tuple[Update, ...]:
        async with make_bot() as bot:
            with pytest.raises(NetworkError):
                await bot.get_updates(timeout=0)
            # Nothing confirmed the batch, so Telegram hands it out again.
            return await bot.get_updates(timeout=0)

    assert [u.update_id for u in run(scenario)] == [update_id]


def test_a_hung_answer_ends_when_the_server_stops(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.lose_next_response("sendMessage", mode="hang")
    server = LocalBotApiServer(core).start()

    async def scenario() -> None:
        # No read timeout at all: only the server going away ends the wait.
        request = HTTPXRequest(read_timeout=None)
        async with Bot(TOKEN, base_url=server.base_url, request=request) as bot:
            call = asyncio.create_task(bot.send_message(USER, "hello?"))
            lost = await asyncio.to_thread(
                core.wait_for, lambda c: c.lost_responses() == {"sendMessage": 1}, WAIT
            )
            assert lost
            await asyncio.sleep(0.1)
            assert not call.done()
            await asyncio.to_thread(server.stop)
            with pytest.raises(NetworkError):
                await asyncio.wait_for(call, WAIT)

    try:
        run(scenario)
    finally:
        server.stop()
    assert [r.text for r in core.sent(USER)] == ["hello?"]


def test_direct_dispatch_has_no_connection_to_lose(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.lose_next_response("sendMessage", times=2)
    assert core.dispatch(TOKEN, "sendMessage", {"chat_id": USER, "text": "x"})[0] == 200
    assert core.lost_responses() == {}
    assert core.serve(TOKEN, "sendMessage", {"chat_id": USER, "text": "y"}).lost == "disconnect"
    assert core.serve(TOKEN, "sendMessage", {"chat_id": USER, "text": "z"}).lost == "disconnect"
    assert core.serve(TOKEN, "sendMessage", {"chat_id": USER, "text": "w"}).lost is None


def test_lose_next_response_arguments_are_checked(core: BotApiCore) -> None:
    with pytest.raises(ValueError, match="mode"):
        core.lose_next_response("sendMessage", mode="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        core.lose_next_response("sendMessage", times=0)
    with pytest.raises(ValueError, match="unknown"):
        core.lose_next_response("sendMesage")
