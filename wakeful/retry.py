"""Backoff delays from tenacity's jittered exponential wait, for actors that retry by timer.

Actors cannot sleep inside a handler (that is how bots go deaf), so instead of
tenacity's retry loop they ask for the next delay and schedule a message.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import wait_exponential_jitter


class _Attempt:
    """The one field of tenacity's RetryCallState its wait strategies read."""

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


def backoff(initial: float, maximum: float, jitter: float = 0.5) -> Callable[[int], float]:
    """A function from attempt number (1, 2, ...) to delay in seconds."""
    wait = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)
    return lambda attempt: float(wait(_Attempt(attempt)))  # type: ignore[arg-type]
