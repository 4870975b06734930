"""A countdown a stopping service waits on, carried inside shutdown messages as their reply."""

from __future__ import annotations

import threading


class Latch:
    """Each party it expects checks itself off; the waiter learns who never did."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: set[str] = set()
        self._closed = False

    def expect(self, name: str) -> None:
        with self._cond:
            self._waiting.add(name)

    def done(self, name: str) -> None:
        with self._cond:
            self._waiting.discard(name)
            self._cond.notify_all()

    def close(self) -> None:
        """Nobody more will be expected: wait() may return once the named are done."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> set[str]:
        """Block until everyone expected is done; returns who was still pending."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed and not self._waiting, timeout)
            return set(self._waiting)
