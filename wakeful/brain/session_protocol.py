"""The CLI's stream-json *input*: the only place a line for the brain's stdin is made.

With `--input-format stream-json` the Claude Code CLI reads one JSON object per stdin
line and keeps one process (and one session) for as many messages as it is given.
One line that is not valid JSON kills it (exit 1), so every line is made here, by
`json.dumps` with `ensure_ascii`: the line is pure ASCII, so no newline, carriage
return, U+2028 or lone surrogate in a user's text can split or break it (they are
all escaped), whatever its size.

What the CLI says back about these lines (measured on 2.1.x) is recognised by the
stdout parser (wakeful/brain/stream_json.py) as typed events:

    {"type":"user", "isReplay":true, "uuid":U, ...}     MessageTaken(U): with
        --replay-user-messages, echoed when the CLI takes the message into a turn (at
        the start of a turn, or at the next tool boundary of a running one)
    {"type":"command_lifecycle","command_uuid":U,"state":S}   MessageLifecycle(U, S):
        queued / started / completed / cancelled
    {"type":"control_response","response":{"request_id":R,"subtype":...}}
        ControlResponse(R, ok, error): the answer to one of our control requests
    {"type":"control_request","request_id":R,"request":{"subtype":...}}
        ControlRequest(R, subtype, request): the CLI asks us (approvals, later); the
        answer goes back with `control_response()`
"""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any


def encode(obj: dict[str, Any]) -> bytes:
    """One stdin line: JSON, ASCII only (every odd character escaped), then a newline."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def user_message(text: str, message_uuid: str) -> bytes:
    """A user message; with a uuid the CLI echoes it (replay) and reports its lifecycle."""
    return encode({"type": "user", "uuid": message_uuid,
                   "message": {"role": "user", "content": text}})


def interrupt(request_id: str) -> bytes:
    """End the running turn (an error result; a running tool is killed); the process and
    its session stay, and the next message starts the next turn."""
    return encode({"type": "control_request", "request_id": request_id,
                   "request": {"subtype": "interrupt"}})


def permission_allow(request_id: str, tool_input: dict[str, Any]) -> bytes:
    """Yes to a `can_use_tool` request: the tool runs with `tool_input` (the CLI wants
    the input back, measured on 2.1.328)."""
    return control_response(request_id, {"behavior": "allow", "updatedInput": tool_input})


def permission_deny(request_id: str, message: str) -> bytes:
    """No to a `can_use_tool` request: the model reads `message` as the tool's result."""
    return control_response(request_id, {"behavior": "deny", "message": message})


def control_response(request_id: str, response: dict[str, Any] | None = None,
                     error: str | None = None) -> bytes:
    """Our answer to a control_request of the CLI's (e.g. a tool approval)."""
    if error is not None:
        body: dict[str, Any] = {"subtype": "error", "request_id": request_id, "error": error}
    else:
        body = {"subtype": "success", "request_id": request_id, "response": response or {}}
    return encode({"type": "control_response", "response": body})
