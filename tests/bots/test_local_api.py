"""The local Bot API, exercised through the real python-telegram-bot client.

Every PTB-level scenario runs twice: over loopback HTTP (`LocalBotApiServer`) and through
`InProcessRequest`, so both transports are held to the same Telegram behaviour.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from telegram import Bot, Message, ReactionTypeEmoji, ReplyParameters, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from tests.bots.harness import (
    LONG_POLL,
    TOKEN,
    USER,
    WAIT,
    BotFactory,
    ManualClock,
    run,
    wait_for_polls,
)
from wakeful.testing.bot_api import BotApiCore, InProcessRequest, LocalBotApiServer, SentRecord

# --------------------------------------------------------------------------- PTB client


def test_get_me_round_trip(make_bot: BotFactory) -> None:
    async def scenario() -> None:
        async with make_bot() as bot:
            me = await bot.get_me()
            assert me.is_bot
            assert me.username == "wakeful_test_bot"
            assert me.id == 123456 == bot.id

    run(scenario)


def test_injected_text_arrives_as_update(make_bot: BotFactory, core: BotApiCore) -> None:
    injected = core.inject_text(USER, "hello bot", first_name="Ada")

    async def scenario() -> tuple[Update, ...]:
        async with make_bot() as bot:
            return await bot.get_updates(timeout=0)

    (update,) = run(scenario)
    assert isinstance(update, Update)
    assert update.update_id == injected["update_id"]
    assert isinstance(update.message, Message)
    assert update.message.text == "hello bot"
    assert update.message.chat.id == USER
    assert update.message.chat.type == "private"
    assert update.effective_user is not None
    assert update.effective_user.first_name == "Ada"
    assert update.message.date.timestamp() == 1_700_000_000


def test_update_is_redelivered_until_an_offset_confirms_it(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    first = core.inject_text(USER, "one")["update_id"]
    second = core.inject_text(USER, "two")["update_id"]

    async def scenario() -> list[list[int]]:
        async with make_bot() as bot:
            seen = []
            for offset in (None, None, first + 1, second + 1):
                updates = await bot.get_updates(offset=offset, timeout=0)
                seen.append([u.update_id for u in updates])
            return seen

    assert run(scenario) == [[first, second], [first, second], [second], []]
    assert core.pending_update_ids() == []


def test_command_gets_a_bot_command_entity(make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "/start now")

    async def scenario() -> tuple[Update, ...]:
        async with make_bot() as bot:
            return await bot.get_updates(timeout=0)

    (update,) = run(scenario)
    assert update.message is not None
    assert update.message.parse_entities(["bot_command"]) != {}
    assert list(update.message.parse_entities(["bot_command"]).values()) == ["/start"]


def test_long_poll_wakes_when_a_message_is_injected(make_bot: BotFactory, core: BotApiCore) -> None:
    async def scenario() -> tuple[Update, ...]:
        async with make_bot() as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=LONG_POLL))
            await wait_for_polls(core, 1)
            assert not poll.done()
            core.inject_text(USER, "wake up")
            return await asyncio.wait_for(poll, WAIT)

    (update,) = run(scenario)
    assert update.message is not None
    assert update.message.text == "wake up"


def test_newer_long_poll_terminates_the_older_with_409(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    async def scenario() -> tuple[Update, ...]:
        # Two bots: one PTB Bot serialises its own getUpdates calls on a single connection.
        async with make_bot() as old, make_bot() as new:
            older = asyncio.create_task(old.get_updates(timeout=LONG_POLL))
            await wait_for_polls(core, 1)
            newer = asyncio.create_task(new.get_updates(timeout=LONG_POLL))
            with pytest.raises(Conflict, match="terminated by other getUpdates request"):
                await asyncio.wait_for(older, WAIT)
            assert not newer.done()
            core.inject_text(USER, "for the survivor")
            return await asyncio.wait_for(newer, WAIT)

    (update,) = run(scenario)
    assert update.message is not None
    assert update.message.text == "for the survivor"


def test_bot_actions_are_recorded_with_timestamps(
    make_bot: BotFactory, core: BotApiCore, clock: ManualClock
) -> None:
    core.inject_text(USER, "question")

    async def scenario() -> tuple[Message, Message | bool]:
        async with make_bot() as bot:
            clock.mono, clock.now = 200.0, 1_700_000_100.0
            sent = await bot.send_message(USER, "thinking…", parse_mode="HTML")
            clock.mono, clock.now = 201.0, 1_700_000_101.0
            edited = await bot.edit_message_text("answer", chat_id=USER, message_id=sent.id)
            clock.mono, clock.now = 202.0, 1_700_000_102.0
            assert await bot.set_message_reaction(USER, 1, ReactionTypeEmoji("👀"))
            clock.mono, clock.now = 203.0, 1_700_000_103.0
            assert await bot.send_chat_action(USER, "typing")
            return sent, edited

    sent, edited = run(scenario)
    assert sent.from_user is not None
    assert sent.from_user.id == 123456
    assert (sent.chat.id, sent.text, sent.message_id) == (USER, "thinking…", 2)
    assert isinstance(edited, Message)
    assert edited.text == "answer"
    assert edited.edit_date is not None
    assert edited.edit_date.timestamp() == 1_700_000_101

    assert core.sent(USER) == [
        SentRecord("message", USER, 2, "thinking…", None, None, None, 200.0, 1_700_000_100.0,
                   parse_mode="HTML"),
        SentRecord("edit", USER, 2, "answer", None, None, None, 201.0, 1_700_000_101.0),
        SentRecord("reaction", USER, 1, None, ("👀",), None, None, 202.0, 1_700_000_102.0),
        SentRecord("chat_action", USER, None, None, None, "typing", None, 203.0,
                   1_700_000_103.0),
    ]  # fmt: skip
    message = core.message(USER, 2)
    assert message is not None
    assert message["text"] == "answer"


def test_reply_is_linked_and_a_missing_target_is_rejected(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    question = core.inject_text(USER, "why?")["message"]["message_id"]

    async def scenario() -> Message:
        async with make_bot() as bot:
            reply = await bot.send_message(
                USER, "because", reply_parameters=ReplyParameters(question)
            )
            with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
                await bot.send_message(USER, "x", reply_parameters=ReplyParameters(999))
            return reply

    reply = run(scenario)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "why?"
    assert [r.reply_to_message_id for r in core.sent(USER)] == [question]


def test_send_message_validation(make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "hi")

    async def scenario() -> None:
        async with make_bot() as bot:
            # PTB strips "Bad Request: " and capitalize()s the rest, hence (?i).
            for empty in ("", "  \n "):
                with pytest.raises(BadRequest, match=r"(?i)^message text is empty$"):
                    await bot.send_message(USER, empty)
            with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
                await bot.send_message(USER, "x" * 4097)
            # The limit is in UTF-16 code units: each of these emoji takes two.
            with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
                await bot.send_message(USER, "😀" * 2049)
            with pytest.raises(BadRequest, match=r"(?i)^chat not found$"):
                await bot.send_message(USER + 1, "nobody wrote to me")
            longest = await bot.send_message(USER, "x" * 4096)
            assert len(longest.text or "") == 4096

    run(scenario)
    assert [r.kind for r in core.sent(USER)] == ["message"]


def test_edit_message_text_errors(make_bot: BotFactory, core: BotApiCore) -> None:
    users_message = core.inject_text(USER, "mine")["message"]["message_id"]

    async def scenario() -> None:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "same")
            with pytest.raises(BadRequest, match=r"(?i)^message is not modified: specified new"):
                await bot.edit_message_text("same", chat_id=USER, message_id=sent.id)
            with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
                await bot.edit_message_text("other", chat_id=USER, message_id=999)
            with pytest.raises(BadRequest, match=r"(?i)^message can't be edited$"):
                await bot.edit_message_text("other", chat_id=USER, message_id=users_message)
            with pytest.raises(BadRequest, match=r"(?i)^message_too_long$"):
                await bot.edit_message_text("y" * 4097, chat_id=USER, message_id=sent.id)

    run(scenario)
    assert [r.kind for r in core.sent(USER)] == ["message"]


def test_reaction_errors(make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "react to me")

    async def scenario() -> None:
        async with make_bot() as bot:
            # Telegram's palette has the bare heart. PTB turns any string outside that
            # palette into a *custom* emoji reaction, which the server then rejects.
            with pytest.raises(BadRequest, match=r"(?i)^reaction_invalid$"):
                await bot.set_message_reaction(USER, 1, "\u2764\ufe0f")
            with pytest.raises(BadRequest, match=r"(?i)^reactions_too_much$"):
                await bot.set_message_reaction(USER, 1, ["👍", "🔥"])
            with pytest.raises(BadRequest, match=r"(?i)^message to react not found$"):
                await bot.set_message_reaction(USER, 99, "👍")
            assert await bot.set_message_reaction(USER, 1, "\u2764")
            assert await bot.set_message_reaction(USER, 1)

    run(scenario)
    assert [r.reaction for r in core.sent(USER)] == [("\u2764",), ()]


def test_wrong_token_and_unknown_method(make_bot: BotFactory, core: BotApiCore) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidToken):
            await make_bot("654321:not-the-token").initialize()
        async with make_bot() as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("noSuchMethod")

    run(scenario)
    # Rejected tokens never reach method accounting.
    assert core.call_counts() == {"getMe": 1}


def test_fail_next_retry_after(
    make_bot: BotFactory, core: BotApiCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, reading RetryAfter.retry_after emits a deprecation warning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    core.inject_text(USER, "hi")
    core.fail_next("sendmessage", 429, retry_after=7, times=2)

    async def scenario() -> None:
        async with make_bot() as bot:
            for _ in range(2):
                with pytest.raises(RetryAfter) as caught:
                    await bot.send_message(USER, "flood")
                assert caught.value.retry_after == dtm.timedelta(seconds=7)
            await bot.send_message(USER, "after the flood")

    run(scenario)
    assert [r.text for r in core.sent(USER)] == ["after the flood"]
    assert core.call_counts()["sendMessage"] == 3


def test_fail_next_forbidden_and_bad_gateway(make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    core.fail_next("sendChatAction", 403)
    core.fail_next("editMessageText", 502)
    core.fail_next("setMessageReaction", 400, "Bad Request: custom failure")

    async def scenario() -> None:
        async with make_bot() as bot:
            with pytest.raises(Forbidden, match="bot was blocked by the user"):
                await bot.send_chat_action(USER, "typing")
            sent = await bot.send_message(USER, "draft")
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.edit_message_text("final", chat_id=USER, message_id=sent.id)
            with pytest.raises(BadRequest, match=r"(?i)custom failure"):
                await bot.set_message_reaction(USER, sent.id, "👍")
            await bot.edit_message_text("final", chat_id=USER, message_id=sent.id)

    run(scenario)
    assert [r.kind for r in core.sent(USER)] == ["message", "edit"]


# --------------------------------------------------------------------------- core directly


def test_params_arrive_as_form_strings(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    status, body = core.dispatch(
        TOKEN,
        "SETMESSAGEREACTION",
        {"chat_id": str(USER), "message_id": "1", "reaction": '[{"type":"emoji","emoji":"👍"}]',
         "is_big": "false"},
    )  # fmt: skip
    assert (status, body) == (200, {"ok": True, "result": True})
    status, body = core.dispatch(TOKEN, "sendMessage", {"chat_id": "abc", "text": "x"})
    assert status == 400
    assert body == {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}


def test_allowed_updates_filter_sticks_and_resets(core: BotApiCore) -> None:
    core.inject_text(USER, "plain message")
    only_edits = {"allowed_updates": '["edited_message"]'}
    assert core.dispatch(TOKEN, "getUpdates", only_edits)[1]["result"] == []
    assert core.dispatch(TOKEN, "getUpdates", {})[1]["result"] == []
    result = core.dispatch(TOKEN, "getUpdates", {"allowed_updates": "[]"})[1]["result"]
    assert [u["message"]["text"] for u in result] == ["plain message"]


def test_negative_offset_keeps_only_the_last_updates(core: BotApiCore) -> None:
    ids = [core.inject_text(USER, str(n))["update_id"] for n in range(3)]
    status, body = core.dispatch(TOKEN, "getUpdates", {"offset": -1})
    assert status == 200
    assert [u["update_id"] for u in body["result"]] == ids[-1:]
    assert core.pending_update_ids() == ids[-1:]


def test_raw_update_is_delivered_verbatim(core: BotApiCore) -> None:
    raw = core.inject_raw_update({"message": {"text": "no ids at all"}})
    result = core.dispatch(TOKEN, "getUpdates", {})[1]["result"]
    assert result == [{"update_id": raw["update_id"], "message": {"text": "no ids at all"}}]


def test_chat_action_is_validated(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")
    status, body = core.dispatch(TOKEN, "sendChatAction", {"chat_id": USER, "action": "dance"})
    assert status == 400
    assert body["description"] == "Bad Request: wrong parameter action in request"
    assert core.sent(USER) == []


def test_group_chats_and_private_invariant(core: BotApiCore) -> None:
    update = core.inject_text(-100, "hi all", user_id=7, first_name="Bo", chat_type="group")
    assert update["message"]["chat"]["type"] == "group"
    assert update["message"]["from"]["id"] == 7
    assert core.chats() == [-100]
    with pytest.raises(ValueError, match="private"):
        core.inject_text(USER, "spoof", user_id=USER + 1)


def test_fail_next_rejects_unknown_methods(core: BotApiCore) -> None:
    with pytest.raises(ValueError, match="unknown"):
        core.fail_next("sendMesage", 429, retry_after=1)


def test_wait_for_wakes_on_state_change(core: BotApiCore) -> None:
    assert not core.wait_for(lambda c: bool(c.chats()), timeout=0.01)
    go = threading.Event()

    def user() -> None:
        go.wait(WAIT)
        core.inject_text(USER, "eventually")

    writer = threading.Thread(target=user)
    writer.start()
    go.set()
    assert core.wait_for(lambda c: c.chats() == [USER], timeout=WAIT)
    writer.join(WAIT)


def test_interrupt_releases_a_pending_long_poll(core: BotApiCore) -> None:
    results: list[tuple[int, dict[str, Any]]] = []
    poller = threading.Thread(
        target=lambda: results.append(core.dispatch(TOKEN, "getUpdates", {"timeout": 60}))
    )
    poller.start()
    assert core.wait_for(lambda c: c.call_counts().get("getUpdates") == 1, WAIT)
    core.interrupt_long_polls()
    poller.join(WAIT)
    assert not poller.is_alive()
    assert results == [(200, {"ok": True, "result": []})]


def test_cancelled_in_process_poll_does_not_hold_up_the_loop(core: BotApiCore) -> None:
    async def scenario() -> None:
        request = InProcessRequest(core, read_timeout=WAIT)
        async with Bot(TOKEN, request=request, get_updates_request=request) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=LONG_POLL))
            await wait_for_polls(core, 1)
            poll.cancel()
            with pytest.raises(asyncio.CancelledError):
                await poll

    started = time.monotonic()
    # asyncio.run joins its worker threads on exit; a parked poll would hold it for 30 s.
    run(scenario)
    assert time.monotonic() - started < LONG_POLL / 2


# --------------------------------------------------------------------------- HTTP server


def test_http_accepts_json_form_and_query_bodies(
    server: LocalBotApiServer, core: BotApiCore
) -> None:
    core.inject_text(USER, "hi")
    base = f"{server.base_url}{TOKEN}"
    with httpx.Client() as client:
        as_json = client.post(f"{base}/sendMessage", json={"chat_id": USER, "text": "json"})
        as_form = client.post(f"{base}/SendMessage", data={"chat_id": str(USER), "text": "form"})
        as_query = client.get(f"{base}/sendmessage", params={"chat_id": USER, "text": "query"})
        upload = client.post(
            f"{base}/sendMessage", data={"chat_id": str(USER)}, files={"doc": b"bytes"}
        )
        unroutable = client.get(f"{server.url}/nothing-here")
    assert [r.status_code for r in (as_json, as_form, as_query)] == [200, 200, 200]
    assert [r.text for r in core.sent(USER)] == ["json", "form", "query"]
    assert upload.status_code == 400
    assert upload.json()["ok"] is False
    assert unroutable.status_code == 404


def test_user_side_http_endpoints(server: LocalBotApiServer, core: BotApiCore) -> None:
    with httpx.Client(base_url=server.url) as client:
        injected = client.post("/_user/sendMessage", json={"chat_id": USER, "text": "from afar"})
        assert injected.status_code == 200
        assert injected.json()["message"]["text"] == "from afar"
        update_id = injected.json()["update_id"]
        assert core.pending_update_ids() == [update_id]

        core.dispatch(TOKEN, "sendMessage", {"chat_id": USER, "text": "hello"})
        core.dispatch(TOKEN, "sendChatAction", {"chat_id": USER, "action": "typing"})
        sent = client.get("/_user/sent", params={"chat_id": USER})
        assert sent.status_code == 200
        records = sent.json()
        assert [(r["kind"], r["text"], r["action"]) for r in records] == [
            ("message", "hello", None),
            ("chat_action", None, "typing"),
        ]
        assert records[0]["at_wall"] == 1_700_000_000.0

        assert client.post("/_user/sendMessage", json={"text": "no chat"}).status_code == 400
        assert client.get("/_user/sent").status_code == 400


def test_logs_never_contain_the_token(
    server: LocalBotApiServer,
    core: BotApiCore,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="wakeful")
    core.inject_text(USER, "hi")
    base = f"{server.base_url}{TOKEN}"
    with httpx.Client() as client:
        client.post(f"{base}/sendMessage", json={"chat_id": USER, "text": "ok"})
        client.post(f"{base}/getNothing", json={})
        client.post(f"{base}/sendMessage", data={"chat_id": USER}, files={"f": b"x"})
        client.post(f"{server.base_url}wrong{TOKEN}/getMe")
    # A malformed request line makes the stdlib handler log an error about it.
    with socket.create_connection((server.host, server.port), timeout=WAIT) as raw:
        raw.sendall(f"BROKEN /bot{TOKEN}/getMe\r\n\r\n".encode())
        raw.recv(4096)

    async def scenario() -> None:
        async with Bot(TOKEN, base_url=server.base_url) as bot:
            await bot.get_updates(timeout=0)

    run(scenario)
    ours = [r for r in caplog.records if r.name.startswith("wakeful")]
    assert any(r.getMessage() == "sendMessage -> 200" for r in ours)
    assert any(r.getMessage() == "getNothing -> 404" for r in ours)
    secret = TOKEN.split(":")[1]
    for record in ours:
        assert secret not in record.getMessage()
        assert secret not in json.dumps(record.args, default=str)
    out, err = capfd.readouterr()
    assert secret not in out
    assert secret not in err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_non_loopback_bind_is_refused(core: BotApiCore, host: str) -> None:
    with pytest.raises(ValueError):
        LocalBotApiServer(core, host=host)


def test_localhost_binds_and_stop_closes(core: BotApiCore) -> None:
    server = LocalBotApiServer(core, host="localhost").start()
    assert server.base_url == f"http://127.0.0.1:{server.port}/bot"
    with httpx.Client() as client:
        assert client.get(f"{server.base_url}{TOKEN}/getMe").json()["ok"] is True
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.get(f"{server.base_url}{TOKEN}/getMe")
