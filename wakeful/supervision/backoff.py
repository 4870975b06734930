"""Exponential restart backoff with jitter and a quiet-period reset (Akka's restartWithBackoff)."""

from __future__ import annotations

import random
from collections.abc import Callable

from wakeful.supervision.spec import Backoff


class BackoffState:
    """Per-child backoff bookkeeping; pure, so tests drive it with plain numbers."""

    def __init__(self, policy: Backoff, rand: Callable[[], float] = random.random) -> None:
        self._policy = policy
        self._rand = rand
        self._attempt = 0
        self._restarted_at: float | None = None

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self, now: float) -> float:
        """Delay for the restart of a child that failed at `now`."""
        p = self._policy
        # Quiet is measured from when the last replacement started running, not from
        # the failure before it: a long backoff must not count as time spent healthy.
        if self._restarted_at is not None and now - self._restarted_at >= p.reset_after:
            self._attempt = 0
        base = min(p.max_delay, p.min_delay * (2**self._attempt))
        jitter = 1.0 + p.random_factor * (2.0 * self._rand() - 1.0)
        delay = max(0.0, min(p.max_delay, base * jitter))
        self._attempt += 1
        self._restarted_at = now + delay
        return delay
