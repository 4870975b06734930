"""Chat commands, end to end: real PTB over HTTP, the local Bot API server, the stand-in brain."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import BotApi
from wakeful.actors.replies import CANCELLED_REPLY
from wakeful.conversation import commands
from wakeful.conversation.commands import MENU
from wakeful.conversation.modes import Mode

CHAT = 5151
GROUP = -100_5151
ALICE = 6161
BOB = 6262


def _prompts(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines()]


def _config(bot_api: BotApi, tmp_path: Path, chats: list[int] | None = None, **kw: Any) -> Any:
    prompts = tmp_path / "prompts.jsonl"
    return bot_api.config(chats or [CHAT], env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)}, **kw)


def _ask(bot_api: BotApi, text: str, chat: int = CHAT, **kw: Any) -> Any:
    """Send `text`; the reply to it."""
    sent = bot_api.core.inject_text(chat, text, **kw)
    message_id = sent["message"]["message_id"]
    assert bot_api.core.wait_for(lambda c: any(
        r.reply_to_message_id == message_id for r in bot_api.replies(chat)), 20), \
        f"no reply to {text!r}: {bot_api.core.sent(chat)}"
    return next(r for r in bot_api.replies(chat) if r.reply_to_message_id == message_id)


def _typing(bot_api: BotApi, chat: int = CHAT) -> bool:
    return bot_api.core.wait_for(lambda c: any(
        r.kind == "chat_action" for r in c.sent(chat)), 15)


def test_start_says_what_the_bot_is_and_gives_the_users_id(bot_api: BotApi, run_service,
                                                            tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    reply = _ask(bot_api, "/start")
    assert reply.text == commands.start_text(CHAT)
    assert _prompts(tmp_path / "prompts.jsonl") == [], "a command never reaches the brain"


def test_help_lists_the_commands_and_modes(bot_api: BotApi, run_service, tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    assert _ask(bot_api, "/help").text == commands.help_text(Mode.QUEUE)


def test_an_unknown_command_gets_the_help_and_never_reaches_the_brain(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    reply = _ask(bot_api, "/frobnicate now")
    assert reply.text == commands.unknown_text("frobnicate", Mode.QUEUE)
    assert _ask(bot_api, "hello").text == "echo: hello"
    assert _prompts(tmp_path / "prompts.jsonl") == ["hello"]


def test_status_during_a_turn_shows_the_turn_the_tool_the_queue_and_cost(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path, brain_delay=4.0))
    bot_api.core.inject_text(CHAT, "work [[tool pytest -q]] [[cost 0.25]]")
    # The tool shows in the live draft halfway through the turn.
    assert bot_api.core.wait_for(lambda c: any(
        r.kind == "draft" and "pytest" in (r.text or "") for r in c.sent(CHAT)), 15)
    bot_api.core.inject_text(CHAT, "queued behind it")
    status = _ask(bot_api, "/status").text
    lines = status.splitlines()
    assert lines[0] == "Mode: queue"
    assert lines[1].startswith("Turn: 🔧 Bash: pytest -q, ")
    assert "Last tool: 🔧 Bash: pytest -q" in lines
    assert "Waiting messages: 1" in lines
    assert "Session: none yet" in lines  # the first turn has not finished yet
    assert "Cost today: $0.00" in lines
    bot_api.wait_replies(CHAT, 3)
    after = _ask(bot_api, "/status").text.splitlines()
    assert after[1] == "Turn: none running" and "Waiting messages: 0" in after
    assert "Cost today: $0.25" in after
    session = next(line for line in after if line.startswith("Session: "))
    assert len(session.removeprefix("Session: ")) == 8


def test_cancel_stops_the_running_turn_and_keeps_the_queued_message(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    first = bot_api.core.inject_text(CHAT, "forever [[hang]]")
    assert _typing(bot_api)
    second = bot_api.core.inject_text(CHAT, "after it")
    bot_api.core.inject_text(CHAT, "/cancel")
    replies = bot_api.wait_replies(CHAT, 2)
    by_message = {r.reply_to_message_id: r.text for r in replies}
    assert by_message[first["message"]["message_id"]] == CANCELLED_REPLY
    assert by_message[second["message"]["message_id"]] == "echo: after it"
    assert len(bot_api.replies(CHAT)) == 2, "the /cancel itself needs no reply"


def test_cancel_all_also_cancels_every_queued_message_with_a_reply(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    svc = run_service(_config(bot_api, tmp_path))
    first = bot_api.core.inject_text(CHAT, "forever [[hang]]")
    assert _typing(bot_api)
    queued = [bot_api.core.inject_text(CHAT, text) for text in ("a", "b")]
    cancel = bot_api.core.inject_text(CHAT, "/cancel all")
    replies = bot_api.wait_replies(CHAT, 4)
    by_message = {r.reply_to_message_id: r.text for r in replies}
    assert by_message[first["message"]["message_id"]] == CANCELLED_REPLY
    for update in queued:
        assert by_message[update["message"]["message_id"]] == commands.CANCELLED_QUEUED
    assert by_message[cancel["message"]["message_id"]] == commands.cancelled_queued(2)
    assert _prompts(tmp_path / "prompts.jsonl") == ["forever [[hang]]"]
    # The journal closed every one of them: nothing runs after a restart.
    assert bot_api.core.wait_for(lambda c: svc.journal.owed(CHAT) == [], 10)


def test_new_starts_a_new_session(bot_api: BotApi, run_service, tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    _ask(bot_api, "hello")
    assert _ask(bot_api, "/new").text == commands.NEW_SESSION
    _ask(bot_api, "again")
    lines = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert [line["resume"] for line in lines] == [None, None]


def test_mode_shows_sets_and_survives_a_restart(bot_api: BotApi, run_service,
                                                 tmp_path: Path) -> None:
    journal = bot_api.new_journal()
    config = _config(bot_api, tmp_path, journal=journal)
    first = run_service(config)
    assert _ask(bot_api, "/mode").text == commands.mode_text(Mode.QUEUE)
    assert _ask(bot_api, "/mode collect").text == commands.mode_set(Mode.COLLECT)
    assert _ask(bot_api, "/mode fast").text == commands.mode_unknown("fast")
    first.stop(grace=0)
    run_service(config)
    assert _ask(bot_api, "/mode").text == commands.mode_text(Mode.COLLECT)


def test_the_command_menu_is_registered_at_start(bot_api: BotApi, run_service,
                                                  tmp_path: Path) -> None:
    run_service(_config(bot_api, tmp_path))
    assert bot_api.core.my_commands == [
        {"command": command.value, "description": description} for command, description in MENU]


def test_a_failed_command_registration_is_not_fatal(bot_api: BotApi, run_service,
                                                     tmp_path: Path) -> None:
    bot_api.core.fail_next("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    run_service(_config(bot_api, tmp_path))
    assert bot_api.core.my_commands == []
    assert _ask(bot_api, "hi").text == "echo: hi"


def test_commands_for_another_bot_are_ignored_in_groups_and_private_chats(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    config = _config(bot_api, tmp_path, chats=[CHAT, ALICE])
    run_service(config)
    bot_api.core.inject_text(GROUP, "/help@other_bot", user_id=ALICE, chat_type="group")
    bot_api.core.inject_text(CHAT, "/help@other_bot")
    # What comes after them is answered, so they were read (and dropped) first.
    assert _ask(bot_api, "/help@wakeful_test_bot", chat=GROUP, user_id=ALICE,
                chat_type="group").text == commands.help_text(Mode.QUEUE)
    assert _ask(bot_api, "/start").text == commands.start_text(CHAT)
    for chat in (GROUP, CHAT):
        assert len(bot_api.replies(chat)) == 1
        reacted = {r.message_id for r in bot_api.core.sent(chat) if r.kind == "reaction"}
        assert reacted == {bot_api.replies(chat)[0].reply_to_message_id}


def test_in_groups_the_brain_reads_who_said_what(bot_api: BotApi, run_service,
                                                  tmp_path: Path) -> None:
    config = _config(bot_api, tmp_path, chats=[ALICE, BOB])
    run_service(replace(config, telegram=replace(config.telegram, allowed_user_ids=(ALICE, BOB))))
    _ask(bot_api, "hi all", chat=GROUP, user_id=ALICE, first_name="Alice", chat_type="group")
    _ask(bot_api, "hello", chat=GROUP, user_id=BOB, first_name="Bob", chat_type="group")
    _ask(bot_api, "just me", chat=ALICE, user_id=ALICE, first_name="Alice")
    assert _prompts(tmp_path / "prompts.jsonl") == [
        f"Alice (id {ALICE}): hi all", f"Bob (id {BOB}): hello", "just me"]
