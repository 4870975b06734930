"""What a supervised actor is given at start: who it is and how to reach the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from wakeful.clock import Clock
from wakeful.supervision.abandoned import AbandonedThreads
from wakeful.supervision.directory import Directory


@dataclass(frozen=True)
class ChildContext:
    child_id: str
    generation: int
    supervisor: str | None  # directory name of the parent; None for the root
    directory: Directory
    clock: Clock
    watchdog: str = "watchdog"
    root: str = "root"
    abandoned: AbandonedThreads = field(default_factory=AbandonedThreads)
    # How often the watchdog pings this actor (None: not watched, e.g. the root).
    heartbeat_interval: float | None = None
