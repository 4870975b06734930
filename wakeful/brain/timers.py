"""The four clocks of one turn, as a pure state machine over monotonic seconds.

    first_event   spawn -> the first sign of the model at work (not the CLI's own init)
    idle          longest silence on stdout once the model is at work
    budget        the whole turn, wall clock
    result_grace  how long the process may linger after printing its result

Whichever deadline comes first ends the turn; `expiry()` names it so the user can
be told which one it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Expiry(StrEnum):
    NO_FIRST_EVENT = "no_first_event"
    IDLE = "idle"
    BUDGET = "budget"
    LINGERED = "lingered"  # the result arrived, but the process did not exit


@dataclass(frozen=True)
class TimerLimits:
    first_event: float = 120.0
    idle: float = 300.0
    budget: float = 900.0
    result_grace: float = 5.0


class TurnTimers:
    def __init__(self, limits: TimerLimits, started_at: float) -> None:
        self.limits = limits
        self.started_at = started_at
        self.first_progress_at: float | None = None
        self.last_line_at: float | None = None
        self.result_at: float | None = None
        # While the brain waits for a person (a tool approval), silence is expected: the
        # idle and first-event clocks stop; the budget does not.
        self.paused = False

    def line(self, now: float, progress: bool) -> None:
        """A readable stdout line arrived; `progress` if it shows the model at work."""
        self.last_line_at = now
        if progress and self.first_progress_at is None:
            self.first_progress_at = now

    def pause(self) -> None:
        self.paused = True

    def resume(self, now: float) -> None:
        """The wait for a person is over: silence counts again, from now."""
        if self.paused:
            self.paused = False
            self.last_line_at = now
            if self.first_progress_at is None:
                self.first_progress_at = now  # it asked for a tool: the model is at work

    def result(self, now: float) -> None:
        if self.result_at is None:
            self.result_at = now

    @property
    def progressed(self) -> bool:
        return self.first_progress_at is not None

    def expiry(self) -> tuple[float, Expiry]:
        """The earliest deadline still running, and the timer it belongs to."""
        deadlines = [(self.started_at + self.limits.budget, Expiry.BUDGET)]
        if self.result_at is not None:
            # Once answered, only the exit matters: silence is expected now.
            deadlines.append((self.result_at + self.limits.result_grace, Expiry.LINGERED))
        elif self.paused:
            pass  # only the budget runs while a person decides
        elif self.first_progress_at is None:
            deadlines.append((self.started_at + self.limits.first_event, Expiry.NO_FIRST_EVENT))
        else:
            last = self.last_line_at if self.last_line_at is not None else self.first_progress_at
            deadlines.append((last + self.limits.idle, Expiry.IDLE))
        return min(deadlines, key=lambda d: d[0])
