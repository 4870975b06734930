"""Lenient parser for the Claude Code CLI's `--output-format stream-json --verbose` stdout.

The CLI's output format is not a stable contract, so the parser never raises:
lines it cannot read are counted as garbage, lines it does not map are counted
as unknown, and missing or ill-typed fields fall back to safe defaults.

It also counts what the turn timers need: `lines` (every readable object, the
brain is alive) and `progress_lines` (objects that show the model at work, as
opposed to the CLI's own bookkeeping such as `system/init` and `system/status`,
which it prints before any request has been answered).
"""

from __future__ import annotations

import json
from typing import Any

from wakeful.brain.events import (
    ApiRetry,
    AssistantText,
    BrainEvent,
    ControlRequest,
    ControlResponse,
    MessageLifecycle,
    MessageTaken,
    SessionStarted,
    TextDelta,
    ToolUse,
    TurnResult,
)

MAX_LINE_BYTES = 8 * 1024 * 1024
GARBAGE_PREVIEW_CHARS = 200
TOOL_DETAIL_CHARS = 60
# Which input field says what a tool is working on, for the common tools.
_TOOL_DETAIL_FIELDS = ("command", "file_path", "path", "pattern", "url", "query",
                       "description", "prompt")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    # bool is an int subclass; a `true` where a number belongs is garbage, not 1.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # Some fields (durations) may come as whole floats; anything else is unusable.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _strings(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(v for v in value if isinstance(v, str))


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tool_detail(tool_input: Any) -> str | None:
    """The first telling field of a tool's input, on one line, cut short."""
    if not isinstance(tool_input, dict):
        return None
    for field in _TOOL_DETAIL_FIELDS:
        value = tool_input.get(field)
        if isinstance(value, str) and value.strip():
            line = " ".join(value.split())
            return line if len(line) <= TOOL_DETAIL_CHARS else line[:TOOL_DETAIL_CHARS - 1] + "…"
    return None


# The CLI's bookkeeping about our stdin lines: printed before any request is answered.
_PROTOCOL_TYPES = frozenset({"command_lifecycle", "control_response"})


def _is_progress(obj: dict[str, Any]) -> bool:
    kind = obj.get("type")
    if kind in _PROTOCOL_TYPES or (kind == "user" and obj.get("isReplay") is True):
        return False  # the CLI echoing what we wrote says nothing about the model
    # An api_retry is the API answering (with an error), so it counts as progress.
    return kind != "system" or obj.get("subtype") == "api_retry"


class StreamJsonParser:
    """Turns CLI stdout lines into `BrainEvent`s, one line at a time."""

    def __init__(self) -> None:
        self.garbage_lines = 0
        self.unknown_events = 0
        self.lines = 0
        self.progress_lines = 0
        self.last_garbage: str | None = None

    def feed(self, line: str | bytes) -> list[BrainEvent]:
        # Measure before decoding so a runaway line costs no extra copy.
        if len(line) > MAX_LINE_BYTES:
            self._garbage(line[:GARBAGE_PREVIEW_CHARS])
            return []
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        text = text.strip()
        if not text:
            return []
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            self._garbage(text)
            return []
        if not isinstance(obj, dict):
            self._garbage(text)
            return []
        self.lines += 1
        if _is_progress(obj):
            self.progress_lines += 1
        events = self._map(obj)
        if events is None:
            self.unknown_events += 1
            return []
        return events

    def _garbage(self, raw: str | bytes) -> None:
        self.garbage_lines += 1
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        self.last_garbage = raw[:GARBAGE_PREVIEW_CHARS]

    def _map(self, obj: dict[str, Any]) -> list[BrainEvent] | None:
        """Events for one JSON object, or None when its kind is not one we map."""
        kind = obj.get("type")
        if kind == "system":
            subtype = obj.get("subtype")
            if subtype == "init":
                return self._init(obj)
            if subtype == "api_retry":
                return [self._api_retry(obj)]
            return None
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "result":
            return [self._result(obj)]
        if kind == "stream_event":
            return self._stream_event(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "command_lifecycle":
            return self._lifecycle(obj)
        if kind == "control_response":
            return self._control_response(obj)
        if kind == "control_request":
            return self._control_request(obj)
        return None

    @staticmethod
    def _user(obj: dict[str, Any]) -> list[BrainEvent] | None:
        # Only the replay of a message we wrote; tool results are user lines too.
        message_uuid = _str(obj.get("uuid"))
        if obj.get("isReplay") is True and message_uuid:
            return [MessageTaken(message_uuid)]
        return None

    @staticmethod
    def _lifecycle(obj: dict[str, Any]) -> list[BrainEvent] | None:
        message_uuid, state = _str(obj.get("command_uuid")), _str(obj.get("state"))
        if message_uuid and state:
            return [MessageLifecycle(message_uuid, state)]
        return None

    @staticmethod
    def _control_response(obj: dict[str, Any]) -> list[BrainEvent] | None:
        response = obj.get("response")
        if not isinstance(response, dict):
            return None
        request_id = _str(response.get("request_id"))
        if not request_id:
            return None
        ok = response.get("subtype") == "success"
        return [ControlResponse(request_id, ok, None if ok else _str(response.get("error")))]

    @staticmethod
    def _control_request(obj: dict[str, Any]) -> list[BrainEvent] | None:
        request_id, request = _str(obj.get("request_id")), obj.get("request")
        if not request_id or not isinstance(request, dict):
            return None
        return [ControlRequest(request_id, _str(request.get("subtype")) or "", request)]

    @staticmethod
    def _stream_event(obj: dict[str, Any]) -> list[BrainEvent]:
        event = obj.get("event")
        delta = event.get("delta") if isinstance(event, dict) else None
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            text = _str(delta.get("text"))
            if text:
                return [TextDelta(text)]
        return []  # other partial events (thinking, tool input JSON) say nothing new

    @staticmethod
    def _init(obj: dict[str, Any]) -> list[BrainEvent] | None:
        session_id = _str(obj.get("session_id"))
        # An init without a session id cannot be resumed; reporting it as a session
        # would only lead to a later `--resume ""`.
        if not session_id:
            return None
        return [SessionStarted(session_id=session_id, model=_str(obj.get("model")))]

    @staticmethod
    def _api_retry(obj: dict[str, Any]) -> ApiRetry:
        return ApiRetry(
            attempt=_int(obj.get("attempt")) or 0,
            max_retries=_int(obj.get("max_retries")),
            retry_delay_ms=_int(obj.get("retry_delay_ms")),
            error=_str(obj.get("error")),
            error_status=_int(obj.get("error_status")),
        )

    @staticmethod
    def _assistant(obj: dict[str, Any]) -> list[BrainEvent]:
        message = obj.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            return []
        texts: list[str] = []
        tools: list[BrainEvent] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                text = _str(block.get("text"))
                if text:
                    texts.append(text)
            elif block.get("type") == "tool_use":
                tools.append(ToolUse(
                    name=_str(block.get("name")) or "",
                    tool_use_id=_str(block.get("id")) or "",
                    detail=_tool_detail(block.get("input")),
                ))
        events: list[BrainEvent] = []
        # The CLI repeats an API failure as a synthetic assistant message; the
        # TurnResult carries the same text with is_error, so don't say it twice.
        if texts and obj.get("is_api_error_message") is not True:
            events.append(AssistantText(text="\n".join(texts)))
        events.extend(tools)
        return events

    @staticmethod
    def _result(obj: dict[str, Any]) -> TurnResult:
        subtype = _str(obj.get("subtype")) or "unknown"
        is_error = obj.get("is_error")
        if not isinstance(is_error, bool):
            is_error = subtype != "success"
        text = _str(obj.get("result"))
        if text is None:
            # error_during_execution and friends carry a list of messages instead.
            errors = obj.get("errors")
            if isinstance(errors, list):
                text = "\n".join(e for e in errors if isinstance(e, str))
        return TurnResult(
            subtype=subtype,
            is_error=is_error,
            text=text or "",
            session_id=_str(obj.get("session_id")),
            cost_usd=_float(obj.get("total_cost_usd")),
            duration_ms=_int(obj.get("duration_ms")),
            num_turns=_int(obj.get("num_turns")),
            api_error_status=_int(obj.get("api_error_status")),
            terminal_reason=_str(obj.get("terminal_reason")),
            message_uuids=_strings(obj.get("user_message_uuids")),
        )
