"""How a finished turn reads to the chat: one pure function from what the child saw."""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.brain.child import ChildReport
from wakeful.brain.events import AssistantText, BrainEvent, SessionStarted, TurnResult


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str
    error: str | None
    session_id: str | None
    cost_usd: float | None


def summarize(
    events: list[BrainEvent], report: ChildReport | None, exitcode: int | None, budget: float
) -> Outcome:
    result = next((e for e in reversed(events) if isinstance(e, TurnResult)), None)
    session_id = next(
        (e.session_id for e in reversed(events)
         if isinstance(e, (TurnResult, SessionStarted)) and e.session_id),
        None,
    )
    streamed = "\n\n".join(e.text for e in events if isinstance(e, AssistantText)).strip()
    cost = result.cost_usd if result else None

    def fail(error: str) -> Outcome:
        return Outcome(False, "", error, session_id, cost)

    if report is None:
        return fail(f"the brain's worker process died (exit status {exitcode})")
    if report.reason == "cancelled":
        return fail("cancelled")
    if report.reason == "spawn_failed":
        return fail(f"the brain could not be started: {report.stderr_tail}")
    if result is None:
        if report.reason == "budget":
            return fail(f"no answer within the {budget:g}s budget; the brain was stopped")
        last_err = report.stderr_tail.strip().splitlines()[-1:] or [""]
        detail = f": {last_err[0][:200]}" if last_err[0] else ""
        return fail(f"the brain exited with status {report.exit_code} without answering{detail}")
    if result.is_error:
        return fail(f"Claude reported an error: {result.text or result.subtype}")
    text = result.text.strip() or streamed
    if not text:
        return fail("the brain finished without any text")
    return Outcome(True, text, None, session_id, cost)
