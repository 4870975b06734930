"""Chat commands: the messages wakeful answers itself, and every text it answers with. Pure.

Any message whose first word looks like a bot command ("/help", "/mode@my_bot queue")
is a command and never goes to the brain: an unknown one gets the help text.
"/usr/bin is gone" is not a command (Telegram's command syntax has no second slash),
so it goes to the brain as text. A command for another bot ("/help@other_bot") never
gets here: admission drops it at the door (wakeful/ingest/admission.py).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from wakeful.conversation.modes import DESCRIPTIONS, Mode


class Command(enum.StrEnum):
    START = "start"
    HELP = "help"
    STATUS = "status"
    CANCEL = "cancel"
    NEW = "new"
    MODE = "mode"
    TOOLS = "tools"


# What Telegram shows in the command menu (setMyCommands), in this order.
MENU: tuple[tuple[Command, str], ...] = (
    (Command.HELP, "What I can do, and the commands"),
    (Command.STATUS, "What I am doing in this chat"),
    (Command.CANCEL, "Stop the running turn (/cancel all: and the queued messages)"),
    (Command.NEW, "Start a new conversation"),
    (Command.MODE, "What I do with messages sent while I work"),
    (Command.TOOLS, "Tools always allowed here (/tools revoke <tool>)"),
    (Command.START, "Who I am, and your Telegram id"),
)

# Telegram's syntax: up to 32 letters, digits and underscores, maybe "@bot_name".
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@(\w+))?")


@dataclass(frozen=True)
class Invocation:
    command: Command | None  # None: a command we do not know
    name: str  # as typed, lower case, without the slash and the @bot
    args: str = ""


def parse(text: str | None) -> Invocation | None:
    """The command a message is, if any ("/cancel", "/cancel@my_bot all", "/new please")."""
    if not text or not text.startswith("/"):
        return None
    head, *rest = text.split(maxsplit=1)
    match = _COMMAND.fullmatch(head)
    if match is None:
        return None
    name = match.group(1).lower()
    try:
        command: Command | None = Command(name)
    except ValueError:
        command = None
    return Invocation(command, name, rest[0].strip() if rest else "")


def is_command(text: str | None, command: Command) -> bool:
    invocation = parse(text)
    return invocation is not None and invocation.command is command


# --- what wakeful says -----------------------------------------------------------------

NOTHING_TO_CANCEL = "Nothing to cancel: I'm not working on anything right now."
NEW_SESSION = "🆕 New conversation: I won't remember what we talked about before."
CANCELLED_QUEUED = "⏹ Cancelled before I started on it."


def start_text(user_id: int | None) -> str:
    who = f"Your Telegram user id is {user_id}." if user_id is not None else \
        "Telegram did not tell me your user id."
    return ("👋 I'm wakeful: I pass your messages to Claude Code and send its answers "
            f"back here.\n\n{who}\n\nSend /help for the commands.")


def help_text(mode: Mode) -> str:
    modes = "\n".join(f"  /mode {m.value}: {DESCRIPTIONS[m]}" for m in Mode)
    return (
        "Write to me and I'll answer with Claude Code. 👀 on your message means I have "
        "it.\n\n"
        "Commands:\n"
        "/status: what I'm doing in this chat\n"
        "/cancel: stop the running turn (messages waiting stay)\n"
        "/cancel all: stop it and drop every waiting message\n"
        "/new: start a new conversation (I forget the old one)\n"
        "/mode: what I do with messages sent while I work\n"
        "/tools: the tools always allowed in this chat\n"
        "/tools revoke <tool>, /tools revoke all: ask again before they run\n"
        "/start: who I am, and your Telegram id\n"
        "/help: this text\n\n"
        f"Modes (this chat: {mode.value}):\n{modes}"
    )


def mode_text(mode: Mode) -> str:
    choices = ", ".join(m.value for m in Mode)
    return (f"Mode: {mode.value} ({DESCRIPTIONS[mode]}).\n"
            f"Change it with /mode <name>; choices: {choices}.")


def mode_set(mode: Mode) -> str:
    return f"✅ Mode set to {mode.value}: {DESCRIPTIONS[mode]}."


def mode_unknown(word: str) -> str:
    choices = ", ".join(m.value for m in Mode)
    return f"There is no mode {word!r}; choices: {choices}."


def cancelled_queued(count: int) -> str:
    what = "1 waiting message" if count == 1 else f"{count} waiting messages"
    return f"⏹ Cancelled {what}."


# --- /tools: the tools someone allowed "always in this chat" ---------------------------

TOOLS_USAGE = ("Use /tools to see the tools always allowed in this chat, /tools revoke "
               "<tool> to take one back, /tools revoke all to take back every one.")
REVOKE_ALL = "all"


def tools_text(granted: Iterable[str], approvals: bool) -> str:
    names = sorted(granted)
    if names:
        shown = "\n".join(f"• {name}" for name in names)
        text = (f"Always allowed in this chat (nobody is asked):\n{shown}\n\n"
                f"Take one back with /tools revoke <tool> (/tools revoke {names[0]}), "
                "or every one with /tools revoke all: I'll ask again before it runs.")
    else:
        text = ("No tool is always allowed in this chat. When I ask before running a "
                "tool, \"Always in this chat\" adds it here.")
    if not approvals:
        text += ("\n\nTool approvals are off in this chat: nobody is asked, and a tool "
                 "the operator did not allow does not run.")
    return text


def find_tool(word: str, granted: Iterable[str]) -> str | None:
    """The granted tool a user means by `word`: its exact name, else the one name that
    differs only in case ("bash" for "Bash"); None when no grant (or more than one) fits."""
    names = set(granted)
    if word in names:
        return word
    folded = [name for name in names if name.casefold() == word.casefold()]
    return folded[0] if len(folded) == 1 else None


def tool_revoked(tool: str) -> str:
    return f"🔐 {tool} is no longer always allowed here: I'll ask before it runs again."


def tool_not_granted(word: str, granted: Iterable[str]) -> str:
    names = sorted(granted)
    now = f"Always allowed here: {', '.join(names)}." if names else \
        "No tool is always allowed here."
    return f"{word} is not always allowed in this chat, so there is nothing to revoke. {now}"


def tools_revoked(count: int) -> str:
    if count == 0:
        return "No tool was always allowed in this chat: nothing to revoke."
    what = "1 tool" if count == 1 else f"{count} tools"
    return f"🔐 Revoked {what}: I'll ask before each tool runs again."


def unknown_text(name: str, mode: Mode) -> str:
    return f"I don't know /{name}.\n\n{help_text(mode)}"


@dataclass(frozen=True)
class StatusView:
    """What /status reports about one chat (gathered by the chat actor)."""

    mode: Mode
    turn: str | None  # what the running turn is doing ("thinking", "queued #2"), None: none
    turn_age: float | None  # seconds since the chat asked for it
    last_tool: str | None
    queued: int
    session_id: str | None
    cost_today: float  # USD, this UTC day (budgets reset at 00:00 UTC)


def status_text(view: StatusView) -> str:
    lines = [f"Mode: {view.mode.value}"]
    if view.turn is None:
        lines.append("Turn: none running")
    else:
        age = f", {_duration(view.turn_age)}" if view.turn_age is not None else ""
        lines.append(f"Turn: {view.turn}{age}")
        if view.last_tool:
            lines.append(f"Last tool: {view.last_tool}")
    lines.append(f"Waiting messages: {view.queued}")
    lines.append(f"Session: {view.session_id[:8] if view.session_id else 'none yet'}")
    lines.append(f"Cost today: ${view.cost_today:.2f}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"
