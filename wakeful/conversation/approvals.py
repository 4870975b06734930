"""Tool approvals over Telegram: what a chat's policy says about one tool call, and
the words and buttons the chat shows for it. Pure: no I/O, no clock.

With `[brain] approvals = true` the CLI asks before every tool not in `allowed_tools`
(a `can_use_tool` control request, wakeful/brain/session_protocol.py). The chat
decides with `decide`: a listed tool, or one granted "always" earlier in this chat,
runs at once; anything else is put to the chat as a message with three buttons, and
no answer within `approval_timeout` denies it. The model reads the deny message.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wakeful.logs import REDACTED, Redactor

# Telegram allows at most 64 bytes of callback_data per button.
MAX_CALLBACK_BYTES = 64
CALLBACK_PREFIX = "ap"
PREVIEW_CHARS = 300
# Variable names whose values are never shown, whatever the tool call contains.
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Values this short are not worth redacting (and would blank out ordinary words).
_MIN_SECRET_CHARS = 6


class Decision(enum.Enum):
    ALLOW = "allow"  # runs without asking
    DENY = "deny"  # refused without asking
    ASK = "ask"  # put to the chat


class Choice(enum.StrEnum):
    """A button's meaning; the one-letter value travels in callback_data."""

    ONCE = "o"
    ALWAYS = "a"
    DENY = "d"


class Outcome(enum.Enum):
    ALLOWED = "✅ allowed"
    ALWAYS = "✅ always allowed in this chat"
    DENIED = "❌ denied"
    TIMED_OUT = "⌛ timed out (denied)"


def decide(tool: str, *, approvals: bool, allowed_tools: Iterable[str],
           always: Iterable[str]) -> Decision:
    """What happens to a call of `tool` in this chat, before anyone is asked."""
    if _listed(tool, allowed_tools):
        return Decision.ALLOW
    if not approvals:
        return Decision.DENY  # as without approvals: a tool not listed does not run
    if tool in set(always):
        return Decision.ALLOW
    return Decision.ASK


def _listed(tool: str, allowed_tools: Iterable[str]) -> bool:
    # `Bash(git status:*)` narrows a tool to some inputs; only the CLI can check those,
    # and it asks only when the input is outside them, so a narrowed entry never allows.
    return any(entry == tool for entry in allowed_tools)


def outcome_of(choice: Choice) -> Outcome:
    return {Choice.ONCE: Outcome.ALLOWED, Choice.ALWAYS: Outcome.ALWAYS,
            Choice.DENY: Outcome.DENIED}[choice]


def allows(outcome: Outcome) -> bool:
    return outcome in (Outcome.ALLOWED, Outcome.ALWAYS)


# --- what nobody may read -------------------------------------------------------------

def secret_values(environ: Mapping[str, str], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The values a preview must never show: every variable named like a secret
    (…TOKEN…, …KEY…, …SECRET…, …PASSWORD…) in `environ`, plus `extra` (the bot token)."""
    found = [value for name, value in environ.items()
             if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_CHARS]
    return tuple(sorted({*found, *(v for v in extra if v)}))


def redactor(environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
    return Redactor(secret_values(environ, extra))


# --- what the chat reads --------------------------------------------------------------

def preview(tool: str, tool_input: Mapping[str, Any], redact: Redactor,
            limit: int = PREVIEW_CHARS) -> str:
    """`tool: <its input, short>`, secrets replaced by ***, at most `limit` characters
    of input. Redacted before it is cut, so half a secret is never left behind."""
    body = _render_input(tool_input)
    body = redact(body)
    if len(body) > limit:
        body = body[:limit].rstrip() + "…"
    name = redact(" ".join(tool.split())[:64]) or "?"
    return f"{name}: {body}" if body else name


def _render_input(tool_input: Mapping[str, Any]) -> str:
    # The common tools have one field that says what they do; show just that.
    for key in ("command", "file_path", "path", "url", "pattern", "query"):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if not tool_input:
        return ""
    return json.dumps(dict(tool_input), ensure_ascii=False, separators=(", ", ": "),
                      default=str)


def request_text(shown: str) -> str:
    return f"🔐 Claude wants to run a tool:\n{shown}\n\nAllow it?"


def outcome_text(shown: str, outcome: Outcome, who: str | None = None) -> str:
    by = f" by {who}" if who and outcome is not Outcome.TIMED_OUT else ""
    return f"🔐 {shown}\n\n{outcome.value}{by}"


def moot_text(shown: str) -> str:
    """The question's last words when its turn ended before anyone answered."""
    return f"🔐 {shown}\n\n⏹ no longer needed: the turn ended"


def deny_message(outcome: Outcome, timeout: float) -> str:
    """What the model reads instead of the tool's output."""
    if outcome is Outcome.TIMED_OUT:
        return (f"The user did not approve this tool call within {timeout:g} s, so it "
                "was denied. Do not retry it unless the user asks.")
    return "The user denied this tool call."


STRANGER_TEXT = "⛔ Only people this bot answers can approve its tools."
STALE_TEXT = "This request is no longer waiting for an answer."
MALFORMED_TEXT = "I don't know this button."


# --- the buttons ----------------------------------------------------------------------

def new_approval_id() -> str:
    """Per request, unguessable enough: a press must name the request it answers."""
    return secrets.token_urlsafe(9)  # 12 characters


def buttons(approval_id: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The inline keyboard: rows of (label, callback_data)."""
    return (
        (("Allow once", callback_data(approval_id, Choice.ONCE)),
         ("Always in this chat", callback_data(approval_id, Choice.ALWAYS))),
        (("Deny", callback_data(approval_id, Choice.DENY)),),
    )


def callback_data(approval_id: str, choice: Choice) -> str:
    data = f"{CALLBACK_PREFIX}:{approval_id}:{choice.value}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback_data over Telegram's 64 bytes")
    return data


@dataclass(frozen=True)
class Press:
    approval_id: str
    choice: Choice


def parse_callback(data: str | None) -> Press | None:
    """A button of ours, or None for anything else (old, foreign, malformed)."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or not parts[1]:
        return None
    try:
        return Press(parts[1], Choice(parts[2]))
    except ValueError:
        return None


__all__ = ["REDACTED", "Choice", "Decision", "Outcome", "Press", "allows", "buttons",
           "callback_data", "decide", "deny_message", "moot_text", "new_approval_id", "outcome_of",
           "outcome_text", "parse_callback", "preview", "redactor", "request_text",
           "secret_values"]
