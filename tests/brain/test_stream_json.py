"""Unit tests of the stream-json parser on lines shaped like the real CLI's output."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from wakeful.brain.events import (
    ApiRetry,
    AssistantText,
    SessionStarted,
    TextDelta,
    ToolUse,
    TurnResult,
)
from wakeful.brain.stream_json import MAX_LINE_BYTES, StreamJsonParser

SID = "43d4c800-f3ee-4c49-9d41-7b25352c0c99"


def line(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def init_line(**extra: Any) -> str:
    obj = {
        "type": "system",
        "subtype": "init",
        "cwd": "/tmp/x",
        "session_id": SID,
        "tools": ["Bash", "Read"],
        "model": "claude-opus-5-5",
        "permissionMode": "default",
    }
    obj.update(extra)
    return line(obj)


def result_line(**extra: Any) -> str:
    obj: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 99,
        "duration_api_ms": 22,
        "num_turns": 1,
        "result": "hello world",
        "stop_reason": "end_turn",
        "session_id": SID,
        "total_cost_usd": 0.00008,
        "usage": {"input_tokens": 5, "output_tokens": 3},
        "terminal_reason": "completed",
        "api_error_status": None,
    }
    obj.update(extra)
    return line(obj)


def test_init_gives_session_started() -> None:
    p = StreamJsonParser()
    assert p.feed(init_line()) == [SessionStarted(session_id=SID, model="claude-opus-5-5")]
    assert (p.garbage_lines, p.unknown_events) == (0, 0)


def test_init_without_session_id_is_not_a_session() -> None:
    p = StreamJsonParser()
    assert p.feed(init_line(session_id=None)) == []
    assert p.feed(init_line(session_id=42)) == []
    assert p.unknown_events == 2


def test_init_with_ill_typed_model_keeps_the_session() -> None:
    assert StreamJsonParser().feed(init_line(model=["x"])) == [SessionStarted(SID, None)]


def test_assistant_text_and_tool_use_blocks() -> None:
    msg = {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "thinking", "thinking": "hmm"},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
                {"type": "text", "text": "And read."},
                {"type": "tool_use", "id": "toolu_02", "name": "Read", "input": {}},
            ],
        },
        "parent_tool_use_id": None,
        "session_id": SID,
    }
    assert StreamJsonParser().feed(line(msg)) == [
        AssistantText("Let me look.\nAnd read."),
        ToolUse(name="Bash", tool_use_id="toolu_01", detail="ls"),
        ToolUse(name="Read", tool_use_id="toolu_02"),
    ]


def test_partial_text_arrives_as_deltas_and_other_partial_events_say_nothing() -> None:
    p = StreamJsonParser()
    delta = {"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": "Hel"}}}
    assert p.feed(line(delta)) == [TextDelta("Hel")]
    thinking = {"type": "stream_event", "event": {"type": "content_block_delta",
                                                  "delta": {"type": "input_json_delta"}}}
    assert p.feed(line(thinking)) == []
    assert p.unknown_events == 0


def test_a_tool_call_is_summed_up_in_a_few_words() -> None:
    long = "pytest -q tests/" + "x" * 200
    msg = {"type": "assistant", "message": {"content": [
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": long}},
        {"type": "tool_use", "id": "t2", "name": "Read", "input": {"file_path": "/a/b.py"}},
        {"type": "tool_use", "id": "t3", "name": "Grep", "input": {"pattern": "def  \n x"}}]}}
    tools = StreamJsonParser().feed(line(msg))
    assert [t.detail for t in tools] == [long[:59] + "…", "/a/b.py", "def x"]


def test_assistant_with_odd_content_is_tolerated() -> None:
    p = StreamJsonParser()
    assert p.feed(line({"type": "assistant"})) == []
    assert p.feed(line({"type": "assistant", "message": "nope"})) == []
    assert p.feed(line({"type": "assistant", "message": {"content": "str"}})) == []
    odd = {"content": [1, None, {"type": "text", "text": 5}, {"type": "tool_use", "name": 3}]}
    assert p.feed(line({"type": "assistant", "message": odd})) == [ToolUse("", "")]
    assert (p.garbage_lines, p.unknown_events) == (0, 0)


def test_synthetic_api_error_message_is_left_to_the_result() -> None:
    msg = {
        "type": "assistant",
        "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "API Error"}]},
        "error": "server_error",
        "is_api_error_message": True,
        "api_error_status": 529,
    }
    assert StreamJsonParser().feed(line(msg)) == []


def test_api_retry() -> None:
    obj = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 2,
        "max_retries": 10,
        "retry_delay_ms": 1180,
        "error_status": 529,
        "error": "overloaded",
        "session_id": SID,
    }
    assert StreamJsonParser().feed(line(obj)) == [
        ApiRetry(
            attempt=2, max_retries=10, retry_delay_ms=1180, error="overloaded", error_status=529
        )
    ]


def test_api_retry_with_missing_and_ill_typed_fields() -> None:
    obj = {"type": "system", "subtype": "api_retry", "attempt": "2", "max_retries": True}
    assert StreamJsonParser().feed(line(obj)) == [ApiRetry(0, None, None, None, None)]


def test_result_success() -> None:
    assert StreamJsonParser().feed(result_line()) == [
        TurnResult(
            subtype="success",
            is_error=False,
            text="hello world",
            session_id=SID,
            cost_usd=0.00008,
            duration_ms=99,
            num_turns=1,
            api_error_status=None,
            terminal_reason="completed",
        )
    ]


def test_result_success_with_is_error_true() -> None:
    text = "API Error: Repeated 529 Overloaded errors."
    [res] = StreamJsonParser().feed(
        result_line(is_error=True, result=text, api_error_status=529, terminal_reason="api_error")
    )
    assert isinstance(res, TurnResult)
    assert (res.subtype, res.is_error, res.text) == ("success", True, text)
    assert (res.api_error_status, res.terminal_reason) == (529, "api_error")


def test_result_error_during_execution_uses_errors_list() -> None:
    obj = json.loads(result_line(subtype="error_during_execution", is_error=True))
    del obj["result"]
    obj["errors"] = ["first", 7, "second"]
    [res] = StreamJsonParser().feed(line(obj))
    assert isinstance(res, TurnResult)
    assert (res.subtype, res.is_error, res.text) == (
        "error_during_execution",
        True,
        "first\nsecond",
    )


def test_result_with_missing_fields_gets_safe_defaults() -> None:
    [res] = StreamJsonParser().feed('{"type": "result"}')
    assert res == TurnResult("unknown", True, "", None, None, None, None, None, None)
    [res] = StreamJsonParser().feed('{"type": "result", "subtype": "success"}')
    assert isinstance(res, TurnResult)
    assert res.is_error is False


def test_result_with_ill_typed_fields() -> None:
    bad = result_line(
        is_error="no",
        result=["x"],
        session_id=1,
        total_cost_usd="1.0",
        duration_ms=12.0,
        num_turns=True,
        api_error_status="529",
        terminal_reason=0,
    )
    [res] = StreamJsonParser().feed(bad)
    assert res == TurnResult("success", False, "", None, None, 12, None, None, None)


def test_garbage_lines_are_counted_not_raised() -> None:
    p = StreamJsonParser()
    for junk in ["not json", "{broken", "[1, 2]", '"str"', "42", "null", "[" * 100_000]:
        assert p.feed(junk) == []
    assert p.garbage_lines == 7
    assert p.unknown_events == 0
    assert p.last_garbage is not None
    assert len(p.last_garbage) == 200


def test_last_garbage_is_truncated_to_200_chars() -> None:
    p = StreamJsonParser()
    p.feed("x" * 1000)
    assert p.last_garbage == "x" * 200


def test_blank_lines_are_ignored() -> None:
    p = StreamJsonParser()
    for blank in ["", "\n", "   \r\n", b"", b"\n"]:
        assert p.feed(blank) == []
    assert (p.garbage_lines, p.unknown_events, p.last_garbage) == (0, 0, None)


def test_unknown_types_and_subtypes_are_counted() -> None:
    p = StreamJsonParser()
    assert p.feed(line({"type": "user", "message": {"content": []}})) == []
    assert p.feed(line({"type": "system", "subtype": "compact_boundary"})) == []
    assert p.feed(line({"no_type": 1})) == []
    assert p.unknown_events == 3
    assert p.garbage_lines == 0


def test_bytes_input_including_bad_utf8() -> None:
    p = StreamJsonParser()
    assert p.feed(init_line().encode() + b"\n") == [SessionStarted(SID, "claude-opus-5-5")]
    assert p.feed(b"\xff\xfe not utf8") == []
    assert p.garbage_lines == 1
    text = json.dumps({"type": "result", "subtype": "success", "result": "héllo ✓"})
    [res] = p.feed(text.encode())
    assert isinstance(res, TurnResult)
    assert res.text == "héllo ✓"


@pytest.mark.parametrize("kind", [str, bytes])
def test_oversized_line_is_garbage(kind: type) -> None:
    big = '{"type": "result", "result": "' + "a" * MAX_LINE_BYTES + '"}'
    p = StreamJsonParser()
    assert p.feed(big if kind is str else big.encode()) == []
    assert p.garbage_lines == 1
    assert p.last_garbage is not None
    assert p.last_garbage.startswith('{"type": "result"')


def test_events_pickle_round_trip() -> None:
    p = StreamJsonParser()
    events = [*p.feed(init_line()), *p.feed(result_line())]
    assert pickle.loads(pickle.dumps(events)) == events
