"""Commands and every text wakeful answers them with: pure, no service."""

from __future__ import annotations

import pytest

from wakeful.conversation import commands
from wakeful.conversation.commands import Command, Invocation, StatusView
from wakeful.conversation.modes import Mode


@pytest.mark.parametrize(("text", "expected"), [
    ("/start", Invocation(Command.START, "start")),
    ("/help", Invocation(Command.HELP, "help")),
    ("/STATUS", Invocation(Command.STATUS, "status")),
    ("/cancel all", Invocation(Command.CANCEL, "cancel", "all")),
    ("/cancel@wakeful_bot  all ", Invocation(Command.CANCEL, "cancel", "all")),
    ("/new please", Invocation(Command.NEW, "new", "please")),
    ("/mode collect", Invocation(Command.MODE, "mode", "collect")),
    ("/mode\ninterrupt", Invocation(Command.MODE, "mode", "interrupt")),
    ("/frobnicate now", Invocation(None, "frobnicate", "now")),
    ("/newer", Invocation(None, "newer")),
])
def test_commands_are_recognised_with_their_arguments(text: str, expected: Invocation) -> None:
    assert commands.parse(text) == expected


@pytest.mark.parametrize("text", [
    None, "", "hello", "please /cancel", "/usr/bin is gone", "/", "/ help",
    "/" + "x" * 33,
])
def test_text_that_is_not_a_command_goes_to_the_brain(text: str | None) -> None:
    assert commands.parse(text) is None


def test_start_names_the_bot_and_the_users_id() -> None:
    text = commands.start_text(4242)
    assert "wakeful" in text and "4242" in text and "/help" in text
    assert "did not tell me" in commands.start_text(None)


def test_help_lists_every_command_and_every_mode_with_the_current_one() -> None:
    text = commands.help_text(Mode.COLLECT)
    for command in Command:
        assert f"/{command.value}" in text
    assert "/cancel all" in text
    for mode in Mode:
        assert f"/mode {mode.value}" in text
    assert "this chat: collect" in text


def test_the_command_menu_has_every_command_once_in_telegrams_syntax() -> None:
    names = [command.value for command, _ in commands.MENU]
    assert sorted(names) == sorted(c.value for c in Command)
    for _, description in commands.MENU:
        assert 1 <= len(description) <= 256


def test_unknown_command_text_names_it_and_carries_the_help() -> None:
    text = commands.unknown_text("frobnicate", Mode.STEER)
    assert text.startswith("I don't know /frobnicate.")
    assert commands.help_text(Mode.STEER) in text


def test_mode_texts() -> None:
    shown = commands.mode_text(Mode.QUEUE)
    assert shown.startswith("Mode: queue") and "steer, collect, queue, interrupt" in shown
    assert commands.mode_set(Mode.INTERRUPT).startswith("✅ Mode set to interrupt")
    assert "'fast'" in commands.mode_unknown("fast")
    assert commands.cancelled_queued(1) == "⏹ Cancelled 1 waiting message."
    assert commands.cancelled_queued(3) == "⏹ Cancelled 3 waiting messages."


def test_status_of_an_idle_chat() -> None:
    text = commands.status_text(StatusView(Mode.STEER, None, None, None, 0, None, 0.0))
    assert text == ("Mode: steer\nTurn: none running\nWaiting messages: 0\n"
                    "Session: none yet\nCost today: $0.00")


def test_status_of_a_busy_chat_shows_the_turn_its_age_tool_queue_session_and_cost() -> None:
    view = StatusView(Mode.COLLECT, "thinking", 75.4, "🔧 Bash: pytest -q", 2,
                      "0123456789abcdef", 0.4567)
    assert commands.status_text(view) == (
        "Mode: collect\nTurn: thinking, 1 min 15 s\nLast tool: 🔧 Bash: pytest -q\n"
        "Waiting messages: 2\nSession: 01234567\nCost today: $0.46")
    waiting = StatusView(Mode.QUEUE, "queued #2", 3.0, None, 0, None, 1.0)
    assert "Turn: queued #2, 3 s" in commands.status_text(waiting)
