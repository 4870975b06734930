"""A generic supervisor: starts children in order, stops them in reverse, restarts by policy.

The restart logic knows nothing about Telegram or brains; the tree (wakeful/tree.py)
is configuration. Semantics follow OTP's supervisor behaviour:

* restart types permanent / transient / temporary decide *whether* a child comes back;
* the strategy decides *which* children restart with it;
* intensity (N restarts in P seconds) decides when to give up: the supervisor stops
  its children and fails itself, so its own parent decides (escalation);
* between restarts an exponential backoff with jitter keeps a crash loop from spinning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from wakeful.messages import ChildExited, ChildFailed, ChildStale, RestartDue
from wakeful.supervision.backoff import BackoffState
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Entry
from wakeful.supervision.intensity import RestartWindow
from wakeful.supervision.spec import ChildSpec, Restart, Strategy, SupervisorSpec
from wakeful.supervision.supervised import SupervisedActor

log = logging.getLogger(__name__)


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


class Supervisor(SupervisedActor):
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
        self._abandoned: list[tuple[str, int]] = []
        self._gave_up = False

    # --- lifecycle (actor thread) ----------------------------------------------------

    def started(self) -> None:
        if self.ctx.supervisor is None:
            # The root has no parent to register it; children must be able to reach it.
            self.ctx.directory.register(Entry(
                self.ctx.child_id, self.ctx.generation, self.actor_ref, None,
                heartbeat_interval=5.0, stale_after=60.0, critical=True))
        for child in list(self._children.values()):
            self._start_child(child)

    def stopping(self) -> None:
        for child in reversed(list(self._children.values())):
            self._stop_child(child)

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
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "strategy": self.spec.strategy.value,
            "restarts_in_window": len(self._window),
            "abandoned_threads": len(self._abandoned),
            "children": [
                {
                    "id": c.spec.id,
                    "generation": c.generation,
                    "alive": c.ref is not None and c.ref.is_alive(),
                    "restarts": c.restarts,
                    "restart_pending": c.restart_pending,
                }
                for c in self._children.values()
            ],
        }

    # --- dynamic children ------------------------------------------------------------

    def add_child(self, spec: ChildSpec) -> pykka.ActorRef[Any] | None:
        """Start a child at run time (OTP's simple_one_for_one / DynamicSupervisor)."""
        child = self._children.get(spec.id)
        if child is None:
            child = self._children[spec.id] = _Child(spec)
        if child.ref is None and not child.restart_pending:
            self._start_child(child)
        return child.ref

    def child_ref(self, child_id: str) -> pykka.ActorRef[Any] | None:
        child = self._children.get(child_id)
        return None if child is None else child.ref

    # --- internals -------------------------------------------------------------------

    def _start_child(self, child: _Child) -> None:
        directory = self.ctx.directory
        generation = directory.next_generation(child.spec.id)
        ctx = ChildContext(
            child_id=child.spec.id,
            generation=generation,
            supervisor=self.ctx.child_id,
            directory=directory,
            clock=self.ctx.clock,
            watchdog=self.ctx.watchdog,
        )
        child.generation = generation
        ref = child.spec.start(ctx)
        child.ref = ref
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

    def _stop_child(self, child: _Child) -> None:
        ref, child.ref = child.ref, None
        if ref is None:
            return
        self.ctx.directory.unregister(child.spec.id, child.generation)
        # Bump the generation first: the exit report it sends is then recognisably ours.
        stale_generation = child.generation
        child.generation = -1
        try:
            stopped = ref.stop(block=True, timeout=child.spec.shutdown_timeout)
        except pykka.Timeout:
            stopped = False
            self._abandon(child.spec.id, stale_generation)
        log.debug("stopped %s (generation %d): %s", child.spec.id, stale_generation, stopped)

    def _abandon(self, child_id: str, generation: int) -> None:
        # A thread stuck in a handler cannot be killed in Python, only left behind.
        self._abandoned.append((child_id, generation))
        log.warning("abandoned wedged %s (generation %d); %d abandoned so far",
                    child_id, generation, len(self._abandoned))

    def _on_child_down(self, child_id: str, generation: int, error: str | None) -> None:
        child = self._children.get(child_id)
        if child is None or generation != child.generation:
            return  # a report from an instance we already replaced or stopped
        self.ctx.directory.unregister(child_id, generation)
        child.ref = None
        restart = child.spec.restart
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and error is None):
            del self._children[child_id]
            return
        reason = error or "stopped unexpectedly"
        self._restart(child, reason)

    def _on_child_stale(self, message: ChildStale) -> None:
        child = self._children.get(message.child_id)
        if child is None or message.generation != child.generation or child.ref is None:
            return
        log.error("%s (generation %d) silent for %.1fs: replacing it",
                  message.child_id, message.generation, message.silent_for)
        ref, child.ref = child.ref, None
        self.ctx.directory.unregister(child.spec.id, child.generation)
        ref.stop(block=False)  # processed only if it ever unwedges
        self._abandon(child.spec.id, child.generation)
        child.generation = -1
        self._restart(child, f"stale for {message.silent_for:.1f}s")

    def _restart(self, failed: _Child, reason: str) -> None:
        now = self.ctx.clock.monotonic()
        if not self._window.record(now):
            self._give_up(f"{failed.spec.id} keeps failing ({reason}): restart intensity "
                          f"{self.spec.intensity.max_restarts} in "
                          f"{self.spec.intensity.period:g}s exceeded")
            return
        for child in reversed(self._affected(failed)):
            if child is not failed:
                self._stop_child(child)
        for child in self._affected(failed):
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
            if child.restart_pending:
                child.restart_pending = False
                child.restarts += 1
                self._start_child(child)

    def _affected(self, failed: _Child) -> list[_Child]:
        ordered = list(self._children.values())
        match self.spec.strategy:
            case Strategy.ONE_FOR_ONE:
                return [failed]
            case Strategy.ONE_FOR_ALL:
                return ordered
            case Strategy.REST_FOR_ONE:
                return ordered[ordered.index(failed):]

    def _give_up(self, reason: str) -> None:
        self._gave_up = True
        log.critical("%s gives up: %s", self.ctx.child_id, reason)
        for child in reversed(list(self._children.values())):
            self._stop_child(child)
        if self._on_give_up is not None:
            self._on_give_up(reason)
        raise GaveUp(reason)
