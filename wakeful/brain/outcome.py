"""How one attempt at a turn reads: a pure function from what the child saw.

Every failure the user can be told about is worded here (see docs/brain.md), so the
chat only adds its "Sorry" prefix.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wakeful.brain.child import ChildReport
from wakeful.brain.events import (
    ApiRetry,
    AssistantText,
    BrainEvent,
    SessionStarted,
    ToolUse,
    TurnResult,
)
from wakeful.brain.timers import Expiry, TimerLimits

# The CLI's words when `--resume` names a session it cannot load (measured on 2.1.x).
_SESSION_GONE = ("No conversation found with session ID", "--resume requires a valid session")
NO_TEXT_AFTER_TOOLS = "(Claude finished without a text reply.)"
# How something outside asks a process to stop: a service stop, a terminal's Ctrl-C or
# hangup. None of them is the brain failing, and wakeful's own kills are told apart
# by the child's reason, not by the signal.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A ChildReport's reason when a remote runner lost the child with its node: no child
# wrote that report, the runner did, for the turn it can no longer see.
NODE_LOST = "node_lost"


class Failure(StrEnum):
    CANCELLED = "cancelled"
    SPAWN_FAILED = "spawn_failed"  # the brain's command could not be executed
    # The runner could not even start the turn's worker (the fork server gone, out of
    # processes): nothing ran, so the turn is worth another try.
    NOT_STARTED = "not_started"
    WORKER_DIED = "worker_died"
    NODE_LOST = "node_lost"  # the cluster node (or its runner) running the turn went away
    NO_FIRST_EVENT = "no_first_event"
    IDLE = "idle"
    BUDGET = "budget"
    CRASHED = "crashed"  # ended without a result
    INTERRUPTED = "interrupted"  # stopped by a signal from outside wakeful, without a result
    API_ERROR = "api_error"  # a result with is_error and an HTTP status
    ERROR = "error"  # any other error result (e.g. error_during_execution)
    SESSION_MISSING = "session_missing"
    EMPTY = "empty"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str
    failure: Failure | None = None
    error: str | None = None  # for the user, when not ok
    session_id: str | None = None  # the session this run really had, if it started one
    session_unsafe: bool = False  # killed after its result: resuming it may fail
    visible: bool = False  # produced text or ran a tool, so it must not be re-run
    before_first_event: bool = True  # ended before the model showed any sign of work
    api_error_status: int | None = None
    api_retries: int = 0
    cost_usd: float | None = None
    duration_ms: int | None = None
    garbage_lines: int = 0

    @property
    def reason(self) -> str:
        """A short phrase for a status line: why this attempt did not answer."""
        match self.failure:
            case Failure.API_ERROR:
                return f"Claude API {api_trouble(self.api_error_status, None)}"
            case Failure.EMPTY:
                return "Claude returned an empty answer"
            case Failure.CRASHED:
                return "the brain crashed before answering"
            case _:
                return self.error or "the brain failed"


def api_trouble(status: int | None, error: str | None) -> str:
    """What the API is doing, in words: "overloaded", "rate-limited", ..."""
    if status == 529 or error == "overloaded":
        return "overloaded"
    if status == 429 or error == "rate_limit":
        return "rate-limited"
    if status in (401, 403) or error == "authentication_failed":
        return "refusing our credentials"
    if status is None:
        return "unreachable"
    return f"failing (HTTP {status})"


def summarize(
    events: list[BrainEvent], report: ChildReport | None, exitcode: int | None,
    limits: TimerLimits,
) -> Outcome:
    # One process may print several results: a follow-up the CLI took after a result
    # began (or after an interrupt) runs as its own next turn. The last result decides
    # how the turn ended; the answer is the text of every successful one, in order (the
    # user saw none of them yet: drafts are not answers), so an interrupted turn's error
    # result is dropped when a message followed it.
    results = [e for e in events if isinstance(e, TurnResult)]
    if report is not None and not report.saw_result and report.reason != "exited":
        # A result came, but a follow-up the CLI took after it was never answered: the
        # turn did not end with that result (a timer or a cancel ended it).
        results = []
    result = results[-1] if results else None
    started = next((e for e in reversed(events) if isinstance(e, SessionStarted)), None)
    # A run that never printed init has no session on disk, whatever id its error
    # result carries (a missing --resume target answers with a random one).
    session_id = None
    if started is not None:
        session_id = (result.session_id if result and result.session_id else None) \
            or started.session_id
    streamed = "\n\n".join(e.text for e in events if isinstance(e, AssistantText)).strip()
    tools_ran = any(isinstance(e, ToolUse) for e in events)
    common: dict[str, Any] = {
        "session_id": session_id,
        "visible": bool(streamed) or tools_ran,
        "before_first_event": report is None or not report.progressed,
        "api_retries": sum(1 for e in events if isinstance(e, ApiRetry)),
        "cost_usd": result.cost_usd if result else None,
        "duration_ms": sum(r.duration_ms or 0 for r in results) if result else None,
        "garbage_lines": report.garbage_lines if report else 0,
        # Killed after its result: the session may be half-written. A cancel that the
        # CLI obeyed (interrupt, EOF, then it exits by itself: 1 after the interrupted
        # turn's error) left it whole; a negative exit code is our kill.
        "session_unsafe": report is not None and report.saw_result
        and report.reason != "exited"
        and not (report.reason == "cancelled" and report.exit_code is not None
                 and report.exit_code >= 0),
        "api_error_status": result.api_error_status if result else None,
    }

    def fail(failure: Failure, error: str) -> Outcome:
        return Outcome(False, "", failure, error, **common)

    if report is None:
        return fail(Failure.WORKER_DIED,
                    f"the brain's worker process died (exit status {exitcode})")
    if report.reason == NODE_LOST:
        return fail(Failure.NODE_LOST, "the machine running the brain went away")
    if report.reason == "spawn_failed":
        return fail(Failure.SPAWN_FAILED, f"the brain could not be started: {report.stderr_tail}")
    if result is None:
        return _no_result(report, limits, fail)
    if report.reason == "cancelled" and result.is_error:
        return fail(Failure.CANCELLED, "cancelled")  # the interrupt we sent ended it
    if result.is_error:
        if any(marker in result.text for marker in _SESSION_GONE):
            return fail(Failure.SESSION_MISSING, "Claude could not find our earlier conversation")
        if result.api_error_status is not None:
            return fail(Failure.API_ERROR, f"Claude reported an error: {result.text}")
        return fail(Failure.ERROR, f"Claude reported an error: {result.text or result.subtype}")
    text = "\n\n".join(t for r in results if not r.is_error and (t := r.text.strip())) \
        or streamed
    if not text:
        if tools_ran:
            return Outcome(True, NO_TEXT_AFTER_TOOLS, **common)
        return fail(Failure.EMPTY, "the brain finished without any text")
    return Outcome(True, text, **common)


def _no_result(
    report: ChildReport, limits: TimerLimits, fail: Callable[[Failure, str], Outcome]
) -> Outcome:
    if report.reason == "cancelled":
        return fail(Failure.CANCELLED, "cancelled")
    if report.reason == Expiry.NO_FIRST_EVENT:
        return fail(Failure.NO_FIRST_EVENT,
                    f"Claude did not start answering within {limits.first_event:g} s, "
                    "so I stopped it")
    if report.reason == Expiry.IDLE:
        return fail(Failure.IDLE, f"Claude went silent for {limits.idle:g} s in the middle "
                                  "of the answer, so I stopped it")
    if report.reason == Expiry.BUDGET:
        return fail(Failure.BUDGET,
                    f"no answer within the {limits.budget:g} s time limit, so I stopped it")
    if report.reason == "exited" and (stop := _stop_signal(report.exit_code)) is not None:
        return fail(Failure.INTERRUPTED,
                    f"the brain was stopped from outside (signal {stop.name}) before answering")
    last_err = report.stderr_tail.strip().splitlines()[-1:] or [""]
    detail = f": {last_err[0][:200]}" if last_err[0] else ""
    if report.garbage_lines:
        detail += f" (it printed {report.garbage_lines} unreadable lines)"
    return fail(Failure.CRASHED,
                f"the brain exited with status {report.exit_code} without answering{detail}")


def _stop_signal(exit_code: int | None) -> signal.Signals | None:
    """The stop signal that ended the brain, from Popen's -N or a shell-style 128+N."""
    for stop in _STOP_SIGNALS:
        if exit_code in (-stop, 128 + stop):
            return stop
    return None
