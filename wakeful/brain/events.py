"""Typed events produced by one brain turn (one run of the Claude Code CLI).

They are frozen, slot-free dataclasses of plain values so they pickle cleanly
across the multiprocessing pipe between the brain worker and its actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionStarted:
    """The CLI's `system/init` line: the session id is what `--resume` needs later."""

    session_id: str
    model: str | None = None


@dataclass(frozen=True)
class ApiRetry:
    """The CLI is backing off from a failed API call (e.g. 529 overloaded) and will retry."""

    attempt: int
    max_retries: int | None = None
    retry_delay_ms: int | None = None
    error: str | None = None
    error_status: int | None = None


@dataclass(frozen=True)
class AssistantText:
    """The text blocks of one assistant message, joined; empty messages are not emitted."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """A few more characters of the answer being written (the CLI's partial messages)."""

    text: str


@dataclass(frozen=True)
class ToolUse:
    """The model asked for a tool; useful as a liveness signal during long turns."""

    name: str
    tool_use_id: str
    detail: str | None = None  # what it works on, in a few words ("pytest -q", a path)


@dataclass(frozen=True)
class TurnResult:
    """The final `result` line of a turn.

    `subtype` can be "success" even when `is_error` is true (API failures end that
    way), so callers must look at `is_error`, not only at `subtype`.
    """

    subtype: str
    is_error: bool
    text: str
    session_id: str | None = None
    cost_usd: float | None = None
    duration_ms: int | None = None
    num_turns: int | None = None
    api_error_status: int | None = None
    terminal_reason: str | None = None
    # The uuids of the user messages this result answers (the CLI's
    # `user_message_uuids`); None when the brain does not say.
    message_uuids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MessageTaken:
    """The CLI took the user message with this uuid into a turn (its replay echo)."""

    uuid: str


@dataclass(frozen=True)
class MessageLifecycle:
    """The CLI's `command_lifecycle` for a message: queued, started, completed, cancelled."""

    uuid: str
    state: str


@dataclass(frozen=True)
class ControlResponse:
    """The CLI's answer to one of our control requests (e.g. an interrupt)."""

    request_id: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class ControlRequest:
    """The CLI asks wakeful something (e.g. may a tool run); answered with a
    control_response line (wakeful/brain/session_protocol.py)."""

    request_id: str
    subtype: str
    request: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ApprovalNeeded:
    """The CLI asks whether it may run a tool (a `can_use_tool` control request, with
    --permission-prompt-tool stdio) and waits, without a timeout, for the answer."""

    request_id: str
    tool_name: str
    tool_input: dict[str, Any] = field(default_factory=dict, compare=False)


BrainEvent = (SessionStarted | ApiRetry | AssistantText | TextDelta | ToolUse | TurnResult
              | MessageTaken | MessageLifecycle | ControlResponse | ControlRequest
              | ApprovalNeeded)
