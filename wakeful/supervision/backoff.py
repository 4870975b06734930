"""Exponential restart backoff with jitter and a quiet-period reset."""

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
        self._last_restart: float | None = None

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self, now: float) -> float:
        """Delay for the restart about to be scheduled at `now`."""
        p = self._policy
        if self._last_restart is not None and now - self._last_restart >= p.reset_after:
            self._attempt = 0
        base = min(p.max_delay, p.min_delay * (2**self._attempt))
        jitter = 1.0 + p.random_factor * (2.0 * self._rand() - 1.0)
        self._attempt += 1
        self._last_restart = now
        return max(0.0, min(p.max_delay, base * jitter))
