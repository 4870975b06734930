"""Which failed attempts are worth another run, and after how long.

tenacity's strategies decide (stop after N attempts or before the overall budget
would be exceeded; exponential backoff with jitter); its retry loop is not used,
because the pool is an actor and must not sleep: it schedules the next attempt
with `tell_later` instead.
"""

from __future__ import annotations

from tenacity import stop_after_attempt, stop_before_delay, wait_exponential_jitter

from wakeful.brain.outcome import Failure, Outcome
from wakeful.retry import CallState

# Transient on the API's side. 400/401/403/404/413 are the request's or the
# operator's fault: running the same turn again cannot fix them.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def worth_retrying(outcome: Outcome) -> bool:
    if outcome.failure is Failure.NODE_LOST:
        # At least once, as after a crash of the whole service: the message would
        # otherwise be lost with a machine, even if a draft of it was already shown.
        return True
    # Once the user could have seen something (or a tool changed something), a
    # second run would repeat it: never.
    if outcome.ok or outcome.visible:
        return False
    match outcome.failure:
        case Failure.EMPTY | Failure.INTERRUPTED | Failure.NOT_STARTED:
            # Not the brain's fault (INTERRUPTED: a signal from outside; NOT_STARTED:
            # its worker could not be started, e.g. the fork server had just died).
            return True
        case Failure.API_ERROR:
            return outcome.api_error_status in RETRYABLE_STATUSES
        case Failure.CRASHED:
            return outcome.before_first_event
        case _:
            return False


class RetryPolicy:
    def __init__(self, max_attempts: int, budget: float, initial: float, maximum: float) -> None:
        self.max_attempts = max_attempts
        self._stop = stop_after_attempt(max_attempts) | stop_before_delay(budget)
        self._wait = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def delay(self, outcome: Outcome, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now.

        `attempt` is the number of the attempt that just failed (1-based) and
        `elapsed` the seconds since the first one started.
        """
        if not worth_retrying(outcome):
            return None
        state = CallState(attempt, elapsed)
        state.upcoming_sleep = float(self._wait(state))  # type: ignore[arg-type]
        if self._stop(state):  # type: ignore[arg-type]
            return None
        return state.upcoming_sleep
