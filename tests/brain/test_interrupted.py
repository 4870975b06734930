"""A brain stopped by someone else's signal is "interrupted": retried, not called a crash."""

from __future__ import annotations

import pytest

from wakeful.brain.child import ChildReport
from wakeful.brain.events import AssistantText, SessionStarted, TurnResult
from wakeful.brain.outcome import Failure, Outcome, summarize
from wakeful.brain.retry_policy import worth_retrying
from wakeful.brain.timers import Expiry, TimerLimits

LIMITS = TimerLimits(first_event=10, idle=5, budget=100, result_grace=2)


def _ended(exit_code: int | None, reason: str = "exited") -> ChildReport:
    return ChildReport(exit_code, reason, 0, "", saw_result=False, progressed=True)


@pytest.mark.parametrize(("exit_code", "name"), [
    (-15, "SIGTERM"), (143, "SIGTERM"), (-2, "SIGINT"), (130, "SIGINT"), (-1, "SIGHUP"),
])
def test_a_stop_signal_from_outside_is_an_interruption(exit_code: int, name: str) -> None:
    outcome = summarize([SessionStarted("s")], _ended(exit_code), 0, LIMITS)
    assert outcome.failure is Failure.INTERRUPTED
    assert outcome.error == f"the brain was stopped from outside (signal {name}) " \
                            "before answering"
    assert outcome.reason == outcome.error


@pytest.mark.parametrize(("exit_code", "reason", "failure"), [
    (-15, "cancelled", Failure.CANCELLED),  # our own kill, by the user's /cancel
    (-15, Expiry.IDLE.value, Failure.IDLE),  # our own kill, by a timer
    (-15, "parent_gone", Failure.CRASHED),  # our own kill: the service was gone
    (-9, "exited", Failure.CRASHED),  # SIGKILL is no request to stop: the OOM killer, ...
    (1, "exited", Failure.CRASHED),
])
def test_only_a_stop_the_child_did_not_make_is_an_interruption(
    exit_code: int, reason: str, failure: Failure,
) -> None:
    outcome = summarize([SessionStarted("s")], _ended(exit_code, reason), 0, LIMITS)
    assert outcome.failure is failure


def test_a_brain_stopped_after_its_answer_still_answered() -> None:
    events = [SessionStarted("s"), TurnResult("success", False, "hi", session_id="s")]
    report = ChildReport(-15, "exited", 0, "", saw_result=True, progressed=True)
    assert summarize(events, report, 0, LIMITS).ok


def test_an_interrupted_attempt_is_retried_unless_the_user_saw_something() -> None:
    silent = summarize([SessionStarted("s")], _ended(-15), 0, LIMITS)
    assert worth_retrying(silent)
    seen = summarize([SessionStarted("s"), AssistantText("half an ans")], _ended(-15), 0,
                     LIMITS)
    assert seen.failure is Failure.INTERRUPTED and seen.visible
    assert not worth_retrying(seen)
    assert not worth_retrying(Outcome(False, "", Failure.CRASHED, "x", before_first_event=False))
