"""Backoff delays from tenacity's jittered exponential wait, for actors that retry by timer.

Actors cannot sleep inside a handler (that is how bots go deaf), so instead of
tenacity's retry loop they ask for the next delay and schedule a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenacity import wait_exponential_jitter


@dataclass
class CallState:
    """The fields of tenacity's RetryCallState that its stop and wait strategies read."""

    attempt_number: int
    seconds_since_start: float = 0.0
    upcoming_sleep: float = 0.0


def backoff(initial: float, maximum: float, jitter: float = 0.5) -> Callable[[int], float]:
    """A function from attempt number (1, 2, ...) to delay in seconds."""
    wait = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)
    return lambda attempt: float(wait(CallState(attempt)))  # type: ignore[arg-type]
