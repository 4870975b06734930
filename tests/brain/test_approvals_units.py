"""Tool approvals in the brain: the lines written to the CLI, and the timers' pause."""

from __future__ import annotations

import json

from wakeful.brain import session_protocol
from wakeful.brain.timers import Expiry, TimerLimits, TurnTimers

LIMITS = TimerLimits(first_event=10.0, idle=5.0, budget=100.0, result_grace=1.0)


def test_the_answers_to_a_can_use_tool_request_are_the_shapes_the_cli_reads() -> None:
    allow = json.loads(session_protocol.permission_allow("r1", {"command": "ls\u2028"}))
    assert allow == {"type": "control_response", "response": {
        "subtype": "success", "request_id": "r1",
        "response": {"behavior": "allow", "updatedInput": {"command": "ls\u2028"}}}}
    deny = session_protocol.permission_deny("r2", "no\nway")
    assert deny.endswith(b"\n") and deny.count(b"\n") == 1 and deny.isascii()
    assert json.loads(deny)["response"]["response"] == {"behavior": "deny", "message": "no\nway"}


def test_waiting_for_a_person_stops_the_idle_clock_but_not_the_budget() -> None:
    timers = TurnTimers(LIMITS, started_at=0.0)
    timers.line(1.0, progress=True)
    assert timers.expiry() == (6.0, Expiry.IDLE)
    timers.pause()
    assert timers.expiry() == (100.0, Expiry.BUDGET)
    timers.resume(50.0)
    assert timers.expiry() == (55.0, Expiry.IDLE), "silence counts again from the answer"


def test_a_question_before_any_progress_does_not_leave_the_first_event_clock_expired() -> None:
    timers = TurnTimers(LIMITS, started_at=0.0)
    timers.pause()
    assert timers.expiry() == (100.0, Expiry.BUDGET)
    timers.resume(30.0)
    assert timers.expiry() == (35.0, Expiry.IDLE)
