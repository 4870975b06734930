"""Injected time: every actor reads a Clock instead of the time module.

`SystemClock` is what runs in production; `FakeClock` lets tests move time by hand
and fire due timers deterministically, without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; for intervals and deadlines."""
        ...

    def wall(self) -> float:
        """Unix time; only for what a human reads (logs, dumps)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` once after `delay` seconds of this clock's time.

        Callbacks run on the clock's own thread (SystemClock) or on the thread that
        advances time (FakeClock); they must be short, typically one `tell`.
        """
        ...


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class _TimerHeap:
    """Due-ordered timers shared by both clocks."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def push(self, due: float, callback: Callable[[], None]) -> _Entry:
        entry = _Entry(due, next(self._seq), callback)
        heapq.heappush(self._heap, entry)
        return entry

    def pop_due(self, now: float) -> list[_Entry]:
        due: list[_Entry] = []
        while self._heap and self._heap[0].due <= now:
            entry = heapq.heappop(self._heap)
            if not entry.cancelled:
                due.append(entry)
        return due

    def next_due(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None


def _fire(entries: list[_Entry]) -> None:
    for entry in entries:
        try:
            entry.callback()
        except Exception:
            # A timer callback only tells an actor; if that fails the actor is gone
            # and its supervisor already knows. The clock must keep ticking for others.
            log.exception("timer callback failed")


class SystemClock:
    """Real time, with one daemon thread that fires timers."""

    def __init__(self) -> None:
        self._timers = _TimerHeap()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def monotonic(self) -> float:
        # Looked up on each call (not bound at import) so freezegun can patch it.
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wakeful-clock", daemon=True
                )
                self._thread.start()
            entry = self._timers.push(self.monotonic() + max(0.0, delay), callback)
            self._cond.notify()
        return entry

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        """Executed on the clock's own thread."""
        while True:
            with self._cond:
                if self._closed:
                    return
                due = self._timers.pop_due(self.monotonic())
                if not due:
                    nxt = self._timers.next_due()
                    wait = None if nxt is None else max(0.0, nxt - self.monotonic())
                    # Bounded wait: a frozen or patched monotonic must not park us forever.
                    self._cond.wait(timeout=0.5 if wait is None else min(wait, 0.5))
                    continue
            _fire(due)


class FakeClock:
    """Manual time for tests: nothing happens until `advance` is called."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._timers = _TimerHeap()
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        with self._lock:
            return self._timers.push(self._now + max(0.0, delay), callback)

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due on the way, in order."""
        with self._lock:
            target = self._now + seconds
        while True:
            with self._lock:
                nxt = self._timers.next_due()
                if nxt is None or nxt > target:
                    self._now = target
                    return
                self._now = max(self._now, nxt)
                due = self._timers.pop_due(self._now)
            _fire(due)

    def pending_timers(self) -> int:
        with self._lock:
            return sum(1 for e in self._timers._heap if not e.cancelled)
