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
    ("/tools revoke Bash", Invocation(Command.TOOLS, "tools", "revoke Bash")),
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


def test_help_says_how_to_see_and_revoke_always_allowed_tools() -> None:
    text = commands.help_text(Mode.STEER)
    assert "/tools: the tools always allowed in this chat" in text
    assert "/tools revoke <tool>, /tools revoke all" in text
    menu = dict(commands.MENU)
    assert "revoke" in menu[Command.TOOLS]


def test_tools_lists_the_grants_in_order_and_says_how_to_revoke() -> None:
    text = commands.tools_text({"Write", "Bash"}, approvals=True)
    assert text.startswith("Always allowed in this chat (nobody is asked):\n• Bash\n• Write\n")
    assert "/tools revoke Bash" in text and "/tools revoke all" in text
    assert "approvals are off" not in text


def test_tools_with_no_grant_says_so_and_how_one_is_made() -> None:
    text = commands.tools_text(frozenset(), approvals=True)
    assert text.startswith("No tool is always allowed in this chat.")
    assert '"Always in this chat"' in text and "revoke" not in text


def test_tools_says_when_approvals_are_off_in_the_chat() -> None:
    for granted in (frozenset(), frozenset({"Bash"})):
        text = commands.tools_text(granted, approvals=False)
        assert text.endswith("Tool approvals are off in this chat: nobody is asked, and a "
                             "tool the operator did not allow does not run.")


@pytest.mark.parametrize(("word", "granted", "found"), [
    ("Bash", {"Bash", "Write"}, "Bash"),
    ("bash", {"Bash", "Write"}, "Bash"),  # the case a phone keyboard gives
    ("BASH", {"Bash"}, "Bash"),
    ("Read", {"Bash"}, None),
    ("bash", {"Bash", "BASH"}, None),  # ambiguous: revoke nothing rather than guess
    ("bash", {"bash", "Bash"}, "bash"),  # the exact name wins
    ("Bash", set(), None),
])
def test_find_tool_is_exact_first_then_case_blind_when_unambiguous(
        word: str, granted: set[str], found: str | None) -> None:
    assert commands.find_tool(word, granted) == found


def test_revoke_texts() -> None:
    assert commands.tool_revoked("Bash") == \
        "🔐 Bash is no longer always allowed here: I'll ask before it runs again."
    assert commands.tool_not_granted("Read", {"Write", "Bash"}) == (
        "Read is not always allowed in this chat, so there is nothing to revoke. "
        "Always allowed here: Bash, Write.")
    assert commands.tool_not_granted("Read", set()).endswith("No tool is always allowed here.")
    assert commands.tools_revoked(0) == \
        "No tool was always allowed in this chat: nothing to revoke."
    assert commands.tools_revoked(1) == "🔐 Revoked 1 tool: I'll ask before each tool runs again."
    assert commands.tools_revoked(3).startswith("🔐 Revoked 3 tools:")


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
