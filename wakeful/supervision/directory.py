"""Names to live actors, like OTP's registered names.

Actors address each other by name ("brain_pool", "chat:42"), never by holding an
ActorRef, so a restarted actor is reachable at once under the same name. The
supervisors are the only writers. A generation number per name fences off a
replaced (wedged) instance: whatever it sends later is recognisably stale.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pykka

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    name: str
    generation: int
    ref: pykka.ActorRef[Any]
    supervisor: str | None
    heartbeat_interval: float
    stale_after: float
    critical: bool


class Directory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._generations: dict[str, int] = {}
        self.undeliverable = 0

    def next_generation(self, name: str) -> int:
        with self._lock:
            gen = self._generations.get(name, 0) + 1
            self._generations[name] = gen
            return gen

    def fence(self, name: str, generation: int) -> None:
        """Retire this instance now, before its replacement exists.

        Unregistered, it gets no new messages; with the generation moved on, everything
        it does if it ever unwedges (replies, heartbeats, timers) is recognisably stale.
        """
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.generation == generation:
                del self._entries[name]
            if self._generations.get(name) == generation:
                self._generations[name] = generation + 1

    def register(self, entry: Entry) -> None:
        with self._lock:
            self._entries[entry.name] = entry

    def unregister(self, name: str, generation: int | None = None) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and (generation is None or entry.generation == generation):
                del self._entries[name]

    def lookup(self, name: str) -> Entry | None:
        with self._lock:
            return self._entries.get(name)

    def is_current(self, name: str, generation: int) -> bool:
        with self._lock:
            return self._generations.get(name) == generation

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    def tell(self, name: str, message: Any) -> bool:
        """Deliver to whoever holds `name` now. False (and counted) if nobody does."""
        entry = self.lookup(name)
        if entry is None:
            self._count_undeliverable(name, message)
            return False
        try:
            entry.ref.tell(message)
        except pykka.ActorDeadError:
            self._count_undeliverable(name, message)
            return False
        return True

    def _count_undeliverable(self, name: str, message: Any) -> None:
        with self._lock:
            self.undeliverable += 1
        log.debug("no live actor named %s for %s", name, type(message).__name__)
