"""Threads left behind: replaced wedged actors whose threads have not exited (yet).

Python cannot kill a thread, so a wedged actor is fenced and abandoned, not stopped.
One or two such threads are a bug to fix, not an emergency; an unbounded number is
a leak. Past the limit, the threads get `grace` seconds to finish before the process
gives up: under a burst that saturates the machine (10,000 chats at once), actors that
were merely slow are replaced too, and their threads exit as soon as they reach their
mailbox again. Only the ones still alive after the grace are really stuck.

This registry is shared by every supervisor in the process, because the limit is
about the process (memory, sockets, file descriptors), not about one branch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pykka


@dataclass(frozen=True)
class Abandoned:
    name: str
    generation: int
    ref: pykka.ActorRef[Any]


# Long enough for a thread that was only slow to get the CPU back once a burst is over.
GRACE = 30.0


class AbandonedThreads:
    def __init__(self, limit: int | None = None, grace: float = GRACE) -> None:
        self.limit = limit
        self.grace = grace
        self._lock = threading.Lock()
        self._items: list[Abandoned] = []
        self._total = 0

    def add(self, name: str, generation: int, ref: pykka.ActorRef[Any]) -> int:
        """Remember an abandoned actor; returns how many abandoned threads are still alive."""
        with self._lock:
            self._items.append(Abandoned(name, generation, ref))
            self._total += 1
        return len(self.alive())

    def alive(self) -> list[Abandoned]:
        """The abandoned actors still running; one that unwedged and stopped is forgotten."""
        with self._lock:
            self._items = [a for a in self._items if a.ref.is_alive()]
            return list(self._items)

    def over_limit(self) -> bool:
        return self.limit is not None and len(self.alive()) > self.limit

    def summary(self) -> dict[str, Any]:
        alive = self.alive()
        with self._lock:
            total = self._total
        return {
            "alive": len(alive),
            "total": total,
            "limit": self.limit,
            "threads": [f"{a.name}#{a.generation}" for a in alive],
        }
