"""The stream-json input lines wakeful writes, and the CLI's answers to them, as units."""

from __future__ import annotations

import json

import pytest

from wakeful.brain import session_protocol
from wakeful.brain.child import ChildReport
from wakeful.brain.events import (
    ControlRequest,
    ControlResponse,
    MessageLifecycle,
    MessageTaken,
    TurnResult,
)
from wakeful.brain.outcome import Failure, summarize
from wakeful.brain.stream_json import StreamJsonParser
from wakeful.brain.timers import TimerLimits

ODD_TEXTS = [
    "plain",
    "two\nlines\r\nand a carriage\rreturn",
    'quotes " and \' and backslash \\ and \\n literally',
    "unicode: héllo wörld 日本語 🙂 \u2028 line sep \u2029 para sep \u0085 nel",
    "controls: \x00 \x01 \x1b[31m \x7f",
    "a lone surrogate \ud800 and its partner \udfff",
    "}{\"type\":\"user\"}\n{\"type\":\"control_request\"}",
    "x" * 100_000,
    ("🙂\n\"" * 20_000),
]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=lambda t: repr(t[:20]))
def test_every_user_message_is_one_ascii_json_line_that_round_trips(text: str) -> None:
    line = session_protocol.user_message(text, "u-1")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b"\r" not in line
    assert line.isascii()  # no byte a line reader could split on, whatever the text
    obj = json.loads(line)
    assert obj == {"type": "user", "uuid": "u-1",
                   "message": {"role": "user", "content": text}}


def test_the_interrupt_and_the_control_response_are_json_lines() -> None:
    assert json.loads(session_protocol.interrupt("r-1")) == {
        "type": "control_request", "request_id": "r-1", "request": {"subtype": "interrupt"}}
    assert json.loads(session_protocol.control_response("r-2", {"behavior": "allow"})) == {
        "type": "control_response",
        "response": {"subtype": "success", "request_id": "r-2",
                     "response": {"behavior": "allow"}}}
    assert json.loads(session_protocol.control_response("r-3", error="no\n")) == {
        "type": "control_response",
        "response": {"subtype": "error", "request_id": "r-3", "error": "no\n"}}
    for line in (session_protocol.interrupt("r\n\"1"),
                 session_protocol.control_response("r", error="🙂")):
        assert line.isascii() and line.count(b"\n") == 1


def test_uuids_are_distinct() -> None:
    assert len({session_protocol.new_uuid() for _ in range(100)}) == 100


# --- what the CLI says back (shapes measured on the pinned CLI 2.1.x) -------------------


def test_the_replay_of_a_message_is_message_taken_and_is_not_model_progress() -> None:
    parser = StreamJsonParser()
    echo = {"type": "user", "message": {"role": "user", "content": "first"},
            "session_id": "s", "parent_tool_use_id": None, "uuid": "u-1",
            "timestamp": "2026-12-05T11:31:11.726Z", "isReplay": True}
    assert parser.feed(json.dumps(echo)) == [MessageTaken("u-1")]
    assert parser.progress_lines == 0  # echoing what we wrote is no sign of the model
    tool_result = {"type": "user", "uuid": "x", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "done"}]}}
    assert parser.feed(json.dumps(tool_result)) == []
    assert parser.feed(json.dumps({**echo, "isReplay": "yes"})) == []
    assert parser.feed(json.dumps({**echo, "uuid": None})) == []
    assert parser.garbage_lines == 0


def test_lifecycle_and_control_lines_become_typed_events() -> None:
    parser = StreamJsonParser()
    lines = [
        {"type": "command_lifecycle", "command_uuid": "u-1", "state": "queued",
         "uuid": "e", "session_id": "s"},
        {"type": "control_response", "response": {
            "subtype": "success", "request_id": "r-1", "response": {"still_queued": []}}},
        {"type": "control_response", "response": {
            "subtype": "error", "request_id": "r-2", "error": "no turn"}},
        {"type": "control_request", "request_id": "r-3",
         "request": {"subtype": "can_use_tool", "tool_name": "Bash"}},
        # not ours to read: ignored, never an error
        {"type": "command_lifecycle", "state": "queued"},
        {"type": "control_response", "response": "nope"},
        {"type": "control_request", "request_id": "r-4", "request": []},
    ]
    events = [e for line in lines for e in parser.feed(json.dumps(line))]
    assert events == [
        MessageLifecycle("u-1", "queued"),
        ControlResponse("r-1", True),
        ControlResponse("r-2", False, "no turn"),
        ControlRequest("r-3", "can_use_tool"),
    ]
    request = events[3]
    assert isinstance(request, ControlRequest) and request.request["tool_name"] == "Bash"
    assert parser.progress_lines == 2  # the CLI asking us (twice): the model is at work
    assert parser.garbage_lines == 0


def test_a_result_names_the_messages_it_answers() -> None:
    parser = StreamJsonParser()
    [result] = parser.feed(json.dumps({
        "type": "result", "subtype": "success", "is_error": False, "result": "ok",
        "user_message_uuids": ["u-1", "u-2", 3]}))
    assert isinstance(result, TurnResult) and result.message_uuids == ("u-1", "u-2")
    [result] = parser.feed(json.dumps({"type": "result", "subtype": "success", "result": "ok"}))
    assert isinstance(result, TurnResult) and result.message_uuids is None


# --- several results in one process ---------------------------------------------------


def _report(reason: str = "exited", exit_code: int = 0, saw_result: bool = True) -> ChildReport:
    return ChildReport(exit_code, reason, 0, "", saw_result, progressed=True)


def _result(text: str, is_error: bool = False, cost: float = 0.0) -> TurnResult:
    return TurnResult("error_during_execution" if is_error else "success", is_error, text,
                      session_id="s", cost_usd=cost, duration_ms=100)


def test_the_answer_of_two_results_is_both_texts_and_an_interrupted_result_is_dropped() -> None:
    limits = TimerLimits()
    two = summarize([_result("first answer"), _result("second answer", cost=0.2)],
                    _report(), 0, limits)
    assert two.ok and two.text == "first answer\n\nsecond answer"
    assert two.cost_usd == 0.2  # the CLI's total_cost_usd is per process, cumulative
    assert two.duration_ms == 200
    interrupted = summarize([_result("[ede_diagnostic]", is_error=True),
                             _result("the follow-up's answer")], _report(), 0, limits)
    assert interrupted.ok and interrupted.text == "the follow-up's answer"


def test_a_cancel_the_cli_obeyed_is_cancelled_and_keeps_the_session() -> None:
    outcome = summarize([_result("interrupted", is_error=True)], _report("cancelled", 0),
                        0, TimerLimits())
    assert outcome.failure is Failure.CANCELLED
    assert outcome.session_unsafe is False
    killed = summarize([_result("interrupted", is_error=True)], _report("cancelled", -9),
                       -9, TimerLimits())
    assert killed.failure is Failure.CANCELLED and killed.session_unsafe is True


def test_a_result_followed_by_an_unanswered_follow_up_is_not_the_turns_end() -> None:
    # A timer ended the process while the follow-up's own turn ran: no answer yet.
    outcome = summarize([_result("first answer")], _report("idle", -9, saw_result=False), -9,
                        TimerLimits(idle=7))
    assert outcome.failure is Failure.IDLE
