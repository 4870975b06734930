"""Flood limit: a user's messages beyond N within W seconds are refused at the door.

Pure apart from its own memory: the poller passes each admitted message's user and
the time (its injected clock), and applies the verdict before anything is stored. A
refused message never becomes work (no journal row, no turn, nothing to replay); the
user hears about it once per burst: at most one reply per user per window, saying
when their messages are read again. The window slides over the messages that were let
in, so a user who slows down is never refused. Memory: one entry per user who wrote in
the last window (N times at most each), swept once a window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class FloodLimit:
    messages: int = 20  # 0: no limit
    window: float = 60.0


@dataclass(frozen=True)
class Flooded:
    wait: float  # seconds until this user's next message is let in
    tell: bool  # the first refusal of a burst: say so (once)


class FloodGate:
    def __init__(self, limit: FloodLimit) -> None:
        self._limit = limit
        self._let_in: dict[int, deque[float]] = {}  # per user: times of the last N let in
        self._told_at: dict[int, float] = {}
        self._sweep_at = -math.inf

    def check(self, user: int, now: float) -> Flooded | None:
        """None: let the message in (and count it). `user` is the sender's id (the chat's
        for a message without one)."""
        if self._limit.messages <= 0:
            return None
        self._sweep(now)
        window = self._limit.window
        times = self._let_in.setdefault(user, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) < self._limit.messages:
            times.append(now)
            return None
        told = self._told_at.get(user)
        tell = told is None or told <= now - window
        if tell:
            self._told_at[user] = now
        return Flooded(times[0] + window - now, tell)

    def users(self) -> int:
        return len(self._let_in)

    def _sweep(self, now: float) -> None:
        if now < self._sweep_at:
            return
        self._sweep_at = now + self._limit.window
        horizon = now - self._limit.window
        for user in [u for u, times in self._let_in.items() if not times or times[-1] <= horizon]:
            del self._let_in[user]
        for user in [u for u, at in self._told_at.items() if at <= horizon]:
            del self._told_at[user]


def flood_text(wait: float) -> str:
    seconds = max(1, math.ceil(wait))
    return (f"You're sending messages faster than I can take them; I'll read again in "
            f"{seconds} s.")
