"""A generic supervisor: starts children in order, stops them in reverse, restarts by policy.

The restart logic knows nothing about Telegram or brains; the tree (wakeful/tree.py)
is configuration. Semantics follow OTP's supervisor behaviour:

* restart types permanent / transient / temporary decide *whether* a child comes back;
* the strategy decides *which* children restart with it;
* intensity (N restarts in P seconds) decides when to give up: the supervisor stops
  its children and fails itself, so its own parent decides (escalation);
* between restarts an exponential backoff with jitter keeps a crash loop from spinning.

A stale (wedged) child cannot be stopped, so it is fenced, abandoned and replaced;
see docs/supervision.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pykka

from wakeful.messages import (
    AbandonedLimitExceeded,
    AbandonedRecheckDue,
    ChildExited,
    ChildFailed,
    ChildStale,
    RestartDue,
)
from wakeful.supervision.backoff import BackoffState
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Entry
from wakeful.supervision.intensity import RestartWindow
from wakeful.supervision.spec import ChildSpec, Restart, Strategy, SupervisorSpec
from wakeful.supervision.supervised import SupervisedActor

log = logging.getLogger(__name__)

# The root is pinged like everyone else but has no parent to report it stale to.
ROOT_HEARTBEAT = {"heartbeat_interval": 5.0, "stale_after": 60.0}


class GaveUp(Exception):
    """Restart intensity exceeded: this supervisor hands the problem to its parent."""


@dataclass
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    generation: int = 0
    restarts: int = 0
    restart_pending: bool = False
    backoff: BackoffState | None = None
    last_failure: tuple[str, float] | None = None  # (reason, wall time), for state dumps


class Supervisor(SupervisedActor):
    # Children that depend on each other stop one by one, in reverse start order (OTP).
    # Dynamic children (many, independent) stop all at once, as OTP's simple_one_for_one
    # does: one by one, thousands of them would make a stop take minutes.
    stop_children_together = False

    def __init__(
        self,
        ctx: ChildContext,
        spec: SupervisorSpec,
        children: list[ChildSpec],
        on_give_up: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(ctx)
        self.spec = spec
        self._children: dict[str, _Child] = {c.id: _Child(c) for c in children}
        self._window = RestartWindow(spec.intensity)
        self._on_give_up = on_give_up
        self.abandoned = 0
        # Every child's, kept after a dynamic child is forgotten: the sum over the
        # children's own counts would drop at each passivation.
        self.restarts_total = 0
        self._gave_up = False
        # The last child abandoned past the limit, while a recheck is pending (root only).
        self._abandoned_last: str | None = None

    # --- lifecycle (actor thread) ----------------------------------------------------

    def started(self) -> None:
        if self.ctx.supervisor is None:
            # The root has no parent to register it; children must be able to reach it.
            self.ctx.directory.register(Entry(
                self.ctx.child_id, self.ctx.generation, self.actor_ref, None,
                critical=True, **ROOT_HEARTBEAT))
        self._retire_orphans()
        for child in list(self._children.values()):
            # A child that cannot start at all fails this supervisor's start (OTP does
            # the same): the parent's intensity then decides, not a silent retry here.
            self._start_child(child)

    def stopping(self) -> None:
        children = list(reversed(list(self._children.values())))
        if self.stop_children_together:
            self._stop_together(children)
            return
        for child in children:
            self._stop_child(child)

    def orphan_exited(self, message: ChildExited | ChildFailed) -> None:
        """The root died: the process has nobody left to heal it. Root's own thread."""
        if isinstance(message, ChildFailed) and self._on_give_up is not None:
            gave_up = isinstance(message.exception, GaveUp)
            self._on_give_up(str(message.exception) if gave_up else message.error)

    # --- messages --------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        match message:
            case ChildFailed():
                self._on_child_down(message.child_id, message.generation, message.error)
            case ChildExited():
                self._on_child_down(message.child_id, message.generation, None)
            case ChildStale():
                self._on_child_stale(message)
            case RestartDue(child_id=child_id):
                self._on_restart_due(child_id)
            case AbandonedLimitExceeded():
                # Not yet: slow threads replaced under a burst exit once they get the CPU.
                if self._abandoned_last is None:
                    log.warning("%d abandoned threads alive (limit %d); giving them %.0fs to "
                                "finish before giving up", message.alive, message.limit,
                                self.ctx.abandoned.grace)
                    self.tell_later(self.ctx.abandoned.grace, AbandonedRecheckDue())
                self._abandoned_last = message.last
            case AbandonedRecheckDue():
                self._recheck_abandoned()
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "strategy": self.spec.strategy.value,
            "restarts_in_window": len(self._window),
            "restarts_total": self.restarts_total,
            "abandoned_threads": self.abandoned,
            "children": [
                {
                    "id": c.spec.id,
                    "generation": c.generation,
                    "alive": c.ref is not None and c.ref.is_alive(),
                    "restarts": c.restarts,
                    "restart_pending": c.restart_pending,
                    "last_failure": None if c.last_failure is None else {
                        "reason": c.last_failure[0], "at": c.last_failure[1]},
                }
                for c in self._children.values()
            ],
        }

    # --- dynamic children ------------------------------------------------------------

    def add_child(self, spec: ChildSpec) -> pykka.ActorRef[Any] | None:
        """Start a child at run time (OTP's simple_one_for_one / DynamicSupervisor).

        Returns the running child's ref, or None while it waits for a restart. Runs on
        this supervisor's own thread (called from a subclass's handler).
        """
        child = self._children.get(spec.id)
        if child is None:
            child = self._children[spec.id] = _Child(spec)
        if child.ref is None and not child.restart_pending:
            try:
                self._start_child(child)
            except Exception as exc:
                self._restart(child, f"start failed: {exc!r}")
        return child.ref

    def running_children(self) -> list[tuple[str, pykka.ActorRef[Any]]]:
        return [(c.spec.id, c.ref) for c in self._children.values() if c.ref is not None]

    def retire_child(self, child_id: str, generation: int) -> bool:
        """Stop a dynamic child that has nothing left to do (passivation), and forget it.

        Not a restart and not a failure: the next add_child starts a fresh instance.
        Returns False if that instance is no longer the one running. The stop is not
        waited for: the child's mailbox is empty of work by the caller's own check.
        """
        child = self._children.get(child_id)
        if child is None or child.generation != generation or child.ref is None:
            return False
        ref, child.ref = child.ref, None
        self.ctx.directory.unregister(child_id, generation)
        del self._children[child_id]
        ref.stop(block=False)
        return True

    # --- internals -------------------------------------------------------------------

    def _start_child(self, child: _Child) -> None:
        directory = self.ctx.directory
        generation = directory.next_generation(child.spec.id)

        def announce(ref: pykka.ActorRef[Any]) -> None:
            directory.register(
                Entry(
                    name=child.spec.id,
                    generation=generation,
                    ref=ref,
                    supervisor=self.ctx.child_id,
                    heartbeat_interval=child.spec.heartbeat_interval,
                    stale_after=child.spec.stale_after,
                    critical=child.spec.critical,
                )
            )

        ctx = ChildContext(
            child_id=child.spec.id,
            generation=generation,
            supervisor=self.ctx.child_id,
            directory=directory,
            clock=self.ctx.clock,
            watchdog=self.ctx.watchdog,
            root=self.ctx.root,
            abandoned=self.ctx.abandoned,
            heartbeat_interval=child.spec.heartbeat_interval,
            announce=announce,
        )
        child.generation = generation
        ref = child.spec.start(ctx)
        child.ref = ref
        # Already done by a SupervisedActor itself; a child of another kind relies on it.
        announce(ref)

    def _stop_child(self, child: _Child) -> None:
        ref, child.ref = child.ref, None
        if ref is None:
            return
        self.ctx.directory.unregister(child.spec.id, child.generation)
        # Forget the generation first: the exit report the stop provokes is then
        # recognisably about an instance we meant to stop, not a crash to act on.
        stale_generation = child.generation
        child.generation = -1
        try:
            ref.stop(block=True, timeout=child.spec.shutdown_timeout)
        except pykka.Timeout:
            log.error("%s (generation %d) did not stop within %.1fs",
                      child.spec.id, stale_generation, child.spec.shutdown_timeout)
            self.ctx.directory.fence(child.spec.id, stale_generation)
            self._abandon(child.spec.id, stale_generation, ref)

    def _stop_together(self, children: list[_Child]) -> None:
        stopping: list[tuple[_Child, int, pykka.ActorRef[Any], Any]] = []
        for child in children:
            ref, child.ref = child.ref, None
            if ref is None:
                continue
            self.ctx.directory.unregister(child.spec.id, child.generation)
            stopping.append((child, child.generation, ref, ref.stop(block=False)))
            child.generation = -1
        if not stopping:
            return
        deadline = self.ctx.clock.monotonic() + max(c.spec.shutdown_timeout for c, *_ in stopping)
        for child, generation, ref, done in stopping:
            try:
                done.get(timeout=max(0.0, deadline - self.ctx.clock.monotonic()))
            except pykka.Timeout:
                log.error("%s (generation %d) did not stop in time", child.spec.id, generation)
                self.ctx.directory.fence(child.spec.id, generation)
                self._abandon(child.spec.id, generation, ref)
            except pykka.ActorDeadError:
                pass  # already gone

    def _retire_orphans(self) -> None:
        """Children a previous instance of me left running (it was wedged, so it could
        not stop them) still answer to my name; stop them so they cannot act twice."""
        for entry in self.ctx.directory.entries():
            if entry.supervisor == self.ctx.child_id:
                log.warning("retiring %s (generation %d), left by a replaced %s",
                            entry.name, entry.generation, self.ctx.child_id)
                self.ctx.directory.fence(entry.name, entry.generation)
                entry.ref.stop(block=False)

    def _abandon(self, child_id: str, generation: int, ref: pykka.ActorRef[Any]) -> None:
        # A thread stuck in a handler cannot be killed in Python, only left behind.
        self.abandoned += 1
        alive = self.ctx.abandoned.add(child_id, generation, ref)
        log.warning("abandoned wedged %s (generation %d); %d abandoned threads alive",
                    child_id, generation, alive)
        if self.ctx.abandoned.over_limit():
            limit = self.ctx.abandoned.limit
            assert limit is not None
            # The limit is the process's, so is the decision: straight to the root.
            self.ctx.directory.tell(self.ctx.root, AbandonedLimitExceeded(
                alive, limit, f"{child_id}#{generation}"))

    def _recheck_abandoned(self) -> None:
        last, self._abandoned_last = self._abandoned_last, None
        alive = len(self.ctx.abandoned.alive())
        limit = self.ctx.abandoned.limit
        if limit is not None and alive > limit:
            self._give_up(f"{alive} wedged threads abandoned (limit {limit}); the last one "
                          f"was {last}")
        else:
            log.warning("abandoned threads back within the limit (%d alive): they were slow, "
                        "not stuck", alive)

    def _on_child_down(self, child_id: str, generation: int, error: str | None) -> None:
        child = self._children.get(child_id)
        if child is None or generation != child.generation:
            return  # a report from an instance we already replaced or stopped
        self.ctx.directory.unregister(child_id, generation)
        child.ref = None
        if not self._restarts_after(child, failed=error is not None):
            log.info("%s exited (%s) and is not restarted (%s)", child_id,
                     error or "normally", child.spec.restart.value)
            del self._children[child_id]
            return
        self._restart(child, error or "stopped unexpectedly")

    def _on_child_stale(self, message: ChildStale) -> None:
        child = self._children.get(message.child_id)
        if child is None or message.generation != child.generation or child.ref is None:
            return
        log.error("%s (generation %d) silent for %.1fs: replacing it",
                  message.child_id, message.generation, message.silent_for)
        ref, child.ref = child.ref, None
        self.ctx.directory.fence(child.spec.id, child.generation)
        ref.stop(block=False)  # processed only if it ever unwedges
        self._abandon(child.spec.id, child.generation, ref)
        child.generation = -1
        if child.spec.restart is Restart.TEMPORARY:
            del self._children[child.spec.id]
            return
        self._restart(child, f"stale for {message.silent_for:.1f}s")

    @staticmethod
    def _restarts_after(child: _Child, failed: bool) -> bool:
        restart = child.spec.restart
        return restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and failed)

    def _restart(self, failed: _Child, reason: str) -> None:
        now = self.ctx.clock.monotonic()
        failed.last_failure = (reason, self.ctx.clock.wall())
        if not self._window.record(now):
            self._give_up(f"{failed.spec.id} keeps failing ({reason}): restart intensity "
                          f"{self.spec.intensity.max_restarts} in "
                          f"{self.spec.intensity.period:g}s exceeded")
        group = self._affected(failed)
        for child in reversed(group):
            if child is not failed:
                self._stop_child(child)
        for child in group:
            if child is not failed and child.spec.restart is Restart.TEMPORARY:
                del self._children[child.spec.id]  # OTP: temporary siblings stay down
            else:
                child.restart_pending = True
        if failed.backoff is None:
            failed.backoff = BackoffState(self.spec.backoff)
        delay = failed.backoff.next_delay(now)
        log.warning("restarting %s in %.2fs (%s)", failed.spec.id, delay, reason)
        self.tell_later(delay, RestartDue(failed.spec.id))

    def _on_restart_due(self, child_id: str) -> None:
        failed = self._children.get(child_id)
        if failed is None or self._gave_up:
            return
        for child in self._affected(failed):
            if not child.restart_pending:
                continue
            child.restart_pending = False
            child.restarts += 1
            self.restarts_total += 1
            try:
                self._start_child(child)
            except Exception as exc:
                # Its start function raised on this thread: a failure like any other.
                self._restart(child, f"start failed: {exc!r}")
                return

    def _affected(self, failed: _Child) -> list[_Child]:
        ordered = list(self._children.values())
        match self.spec.strategy:
            case Strategy.ONE_FOR_ONE:
                return [failed]
            case Strategy.ONE_FOR_ALL:
                return ordered
            case Strategy.REST_FOR_ONE:
                return ordered[ordered.index(failed):]

    def _give_up(self, reason: str) -> NoReturn:
        self._gave_up = True
        log.critical("%s gives up: %s", self.ctx.child_id, reason)
        for child in reversed(list(self._children.values())):
            self._stop_child(child)
        raise GaveUp(reason)
