"""Restart intensity: a sliding window of restart times."""

from __future__ import annotations

from collections import deque

from wakeful.supervision.spec import Intensity


class RestartWindow:
    def __init__(self, policy: Intensity) -> None:
        self._policy = policy
        self._times: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Record a restart at `now`; False means the intensity is exceeded: give up."""
        self._times.append(now)
        while self._times and now - self._times[0] > self._policy.period:
            self._times.popleft()
        return len(self._times) <= self._policy.max_restarts

    def __len__(self) -> int:
        return len(self._times)
