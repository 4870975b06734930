"""What a supervised actor is given at start: who it is and how to reach the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

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
    # Makes this instance reachable by its name. The actor calls it on its own thread
    # before `started()`: what it says at start (a replaced chat asking for its turn
    # again) is answered by name, and a reply that came before the supervisor got
    # round to registering it would be dropped. None: whoever starts it registers it.
    announce: Callable[[pykka.ActorRef[Any]], None] | None = field(default=None,
                                                                   compare=False)
