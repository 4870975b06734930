"""Small supervised test actors and a tree to hang them on, driven by a fake clock.

Every lifecycle step a Worker takes is written to a Journal *after* pykka and our base
class did their part (the failure report is already in the supervisor's mailbox), so
"wait for the journal, then ask the supervisor" is a barrier, never a race.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pykka

from wakeful.clock import Clock, FakeClock
from wakeful.messages import StateRequested
from wakeful.supervision.abandoned import AbandonedThreads
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Directory
from wakeful.supervision.spec import Backoff, ChildSpec, Intensity, Strategy, SupervisorSpec
from wakeful.supervision.supervised import SupervisedActor
from wakeful.supervision.supervisor import Supervisor

HANG_GUARD = 30.0  # seconds; only ever reached when a test is already failing

# Deterministic backoff: 1 s, 2 s, 4 s ... and no jitter, so tests know what to advance.
STEADY_BACKOFF = Backoff(min_delay=1.0, max_delay=60.0, random_factor=0.0, reset_after=600.0)


# --- what tests tell workers ---------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    """Raise an ordinary exception in the handler."""


@dataclass(frozen=True)
class Explode:
    """Raise SystemExit (a BaseException) in the handler."""


@dataclass(frozen=True)
class Quit:
    """Stop normally, as if the work were done."""


@dataclass(frozen=True)
class Poke:
    """Do something visible (a journal line)."""

    tag: str


@dataclass(frozen=True)
class Hang:
    """Block inside the handler until released: a wedged actor."""

    entered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


# --- the journal ---------------------------------------------------------------------


class Journal:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[tuple[Any, ...]] = []

    def add(self, *event: Any) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def events(self, *kinds: str) -> list[tuple[Any, ...]]:
        with self._cond:
            return [e for e in self._events if not kinds or e[0] in kinds]

    def mark(self) -> int:
        with self._cond:
            return len(self._events)

    def since(self, mark: int, *kinds: str) -> list[tuple[Any, ...]]:
        with self._cond:
            return [e for e in self._events[mark:] if not kinds or e[0] in kinds]

    def wait_for(self, *event: Any, timeout: float = HANG_GUARD) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: event in self._events, timeout), (
                f"{event} never happened; journal: {self._events}"
            )


# --- a worker ------------------------------------------------------------------------


class Worker(SupervisedActor):
    def __init__(self, ctx: ChildContext, journal: Journal, fail_start: bool = False) -> None:
        super().__init__(ctx)
        self.journal = journal
        self._fail_start = fail_start
        # Constructed on the supervisor's thread, so this line records start order.
        journal.add("created", ctx.child_id, ctx.generation)

    def started(self) -> None:
        if self._fail_start:
            raise RuntimeError("cannot start")

    def stopping(self) -> None:
        self.journal.add("stopping", self.ctx.child_id, self.ctx.generation)

    def handle(self, message: Any) -> Any:
        match message:
            case Crash():
                raise RuntimeError("crashed on purpose")
            case Explode():
                raise SystemExit(3)
            case Quit():
                self.stop()
            case Poke(tag=tag):
                self.journal.add("poked", self.ctx.child_id, self.ctx.generation, tag)
            case Hang(entered=entered, released=released):
                entered.set()
                released.wait(HANG_GUARD)
            case _:
                return super().handle(message)
        return None

    def on_start(self) -> None:
        try:
            super().on_start()
        except Exception:
            self.journal.add("start_failed", self.ctx.child_id, self.ctx.generation)
            raise

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        super().on_failure(exc_type, exc_value, tb)
        self.journal.add("failed", self.ctx.child_id, self.ctx.generation)

    def on_stop(self) -> None:
        super().on_stop()
        self.journal.add("exited", self.ctx.child_id, self.ctx.generation)


class JournaledSupervisor(Supervisor):
    """A supervisor that, like Worker, journals its own death after reporting it."""

    def __init__(self, ctx: ChildContext, spec: SupervisorSpec, children: list[ChildSpec],
                 journal: Journal) -> None:
        super().__init__(ctx, spec, children)
        self.journal = journal
        journal.add("created", ctx.child_id, ctx.generation)

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        super().on_failure(exc_type, exc_value, tb)
        self.journal.add("failed", self.ctx.child_id, self.ctx.generation)


def worker(child_id: str, journal: Journal, failing_starts: int = 0, **spec: Any) -> ChildSpec:
    """A ChildSpec for a Worker whose first `failing_starts` starts fail in on_start."""
    attempts = itertools.count(1)
    return ChildSpec(
        id=child_id,
        start=lambda ctx: Worker.start(ctx, journal, next(attempts) <= failing_starts),
        **spec,
    )


def supervisor_spec(strategy: Strategy = Strategy.ONE_FOR_ONE, max_restarts: int = 100,
                    period: float = 60.0) -> SupervisorSpec:
    return SupervisorSpec(strategy, Intensity(max_restarts, period), STEADY_BACKOFF)


# --- a tree --------------------------------------------------------------------------


class Tree:
    """A root supervisor over test children, on a fake clock unless told otherwise."""

    def __init__(self, spec: SupervisorSpec, children: list[ChildSpec],
                 clock: Clock | None = None, abandoned_limit: int | None = None,
                 abandoned_grace: float = 1.0) -> None:
        self.clock = clock or FakeClock()
        self.directory = Directory()
        self.abandoned = AbandonedThreads(abandoned_limit, abandoned_grace)
        self.gave_up = threading.Event()
        self.give_up_reason: str | None = None
        ctx = ChildContext("root", self.directory.next_generation("root"), None,
                           self.directory, self.clock, abandoned=self.abandoned)
        self.root = Supervisor.start(ctx, spec, children, self._on_give_up)
        self.settle()  # every level is up: each registered the next as it started

    def _on_give_up(self, reason: str) -> None:
        """Executed on the root's thread."""
        self.give_up_reason = reason
        self.gave_up.set()

    def ref(self, name: str) -> pykka.ActorRef[Any]:
        entry = self.directory.lookup(name)
        assert entry is not None, f"nobody is called {name!r} now"
        return entry.ref

    def ask(self, name: str) -> dict[str, Any]:
        return self.ref(name).ask(StateRequested(), timeout=HANG_GUARD)

    def tell(self, name: str, message: Any) -> None:
        self.ref(name).tell(message)

    def children(self, supervisor: str = "root") -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.ask(supervisor)["children"]}

    def settle(self, skip: Iterable[str] = ()) -> None:
        """Barrier: every actor (but the wedged) has handled what was sent to it so far,
        then the watchdog has handled the heartbeats that produced."""
        settle(self.directory, skip)

    def advance(self, seconds: float, step: float = 0.1, skip: Iterable[str] = (),
                until: Callable[[], bool] | None = None) -> bool:
        """Move the clock in steps, settling after each; stop early once `until` holds."""
        assert isinstance(self.clock, FakeClock)
        return advance(self.clock, self.directory, seconds, step, skip, until)

    def stop(self) -> None:
        if self.root.is_alive():
            self.root.stop(block=True, timeout=HANG_GUARD)


def settle(directory: Directory, skip: Iterable[str] = ()) -> None:
    skipped = set(skip)
    asked: set[tuple[str, int]] = set()
    while True:
        # A supervisor answering may just have started children: ask those too.
        due = [e for e in directory.entries()
               if e.name not in skipped and (e.name, e.generation) not in asked]
        if not due:
            break
        for entry in due:
            asked.add((entry.name, entry.generation))
            # Died meanwhile: its supervisor has the report, nothing to wait for.
            with contextlib.suppress(pykka.ActorDeadError):
                entry.ref.ask(StateRequested(), timeout=HANG_GUARD)
    watchdog = directory.lookup("watchdog")
    if watchdog is not None and "watchdog" not in skipped:
        with contextlib.suppress(pykka.ActorDeadError):
            watchdog.ref.ask(StateRequested(), timeout=HANG_GUARD)


def settle_until(directory: Directory, predicate: Callable[[], bool],
                 timeout: float = HANG_GUARD, skip: Iterable[str] = ()) -> bool:
    """Repeat the settle barrier until `predicate` holds: for effects that arrive from
    outside the actors (a gateway callback) and so cannot be waited on by one ask."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        settle(directory, skip)
    return True


def advance(clock: FakeClock, directory: Directory, seconds: float, step: float,
            skip: Iterable[str] = (), until: Callable[[], bool] | None = None) -> bool:
    skip = tuple(skip)
    start, steps = clock.monotonic(), max(1, round(seconds / step))
    for i in range(1, steps + 1):
        # Aim at absolute times: summing 0.1s would fall short of a timer due at +1.0.
        clock.advance(start + seconds * i / steps - clock.monotonic())
        settle(directory, skip)
        if until is not None and until():
            return True
    return until is None
