"""The Ray actor on each node: runs turns there, with the same child code as at home.

One per node, pinned to it. Each `run` call starts a `BrainProcess` (this node's fork
server, `child.run_turn`: process group, timers, environment as given, kill on cancel)
and yields its items as a Ray streaming generator, ending with `Exited`. The actor is
threaded, so `cancel`/`kill` reach a turn while its `run` waits for the next item.

Everything here runs in the actor's process on the node, on one of its threads.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ray

from wakeful.brain import process
from wakeful.brain.child import ApprovalDecision, FollowUp, TurnSpec
from wakeful.brain.process import BrainProcess

ACTOR_PREFIX = "wakeful-node-"
NAMESPACE = "wakeful"
_actor_class: Any = None  # ray.remote(NodeRunner), made once when first needed
# Turns stopped before their `run` began, remembered this many at most (a stop that
# arrives after the turn ended lands here too, and is never asked for).
_EARLY_STOPS = 1000


@dataclass(frozen=True)
class Exited:
    """The last item of a turn's stream: the child is gone and reaped."""

    code: int | None


def _hide_worker_main() -> None:
    """Keep each turn's child from re-running Ray's worker script (runs in the actor).

    multiprocessing makes every forkserver child import its parent's `__main__` again,
    by path or by module name: here that is Ray's `default_worker.py`, whose imports
    cost ~300 ms per turn (measured: Spawned after 300 ms, 6 ms without). The turn's
    child needs nothing from it; the worker itself does not read these attributes.
    """
    main = sys.modules["__main__"]
    main.__spec__ = None
    main.__dict__.pop("__file__", None)


class NodeRunner:
    """Turns on one node; made a Ray actor by `node_actor()`."""

    def __init__(self) -> None:
        self._turns: dict[str, BrainProcess] = {}
        # A threaded actor may run a turn's `kill` before its `run`: such a turn never starts.
        self._stopped_early: dict[str, None] = {}
        self._lock = threading.Lock()
        _hide_worker_main()

    def ready(self) -> str:
        """Start the node's fork server; answer with the node's id once it is up."""
        process.warm_up()
        return str(ray.get_runtime_context().get_node_id())

    def run(self, spec: TurnSpec) -> Iterator[Any]:
        items: queue.Queue[Any] = queue.Queue()
        brain = BrainProcess(spec, on_item=items.put,
                             on_exit=lambda code: items.put(Exited(code)))
        with self._lock:
            # Started under the lock: a stop finds the turn either not begun (and it never
            # will) or running (and it is stopped), never in between.
            stopped = spec.turn_id in self._stopped_early
            if stopped:
                del self._stopped_early[spec.turn_id]
            else:
                brain.start()
                self._turns[spec.turn_id] = brain
        if stopped:
            yield Exited(None)
            return
        exited = False
        try:
            while not exited:
                item = items.get()
                exited = isinstance(item, Exited)
                yield item
        finally:
            with self._lock:
                self._turns.pop(spec.turn_id, None)
            if not exited:
                # The service stopped listening (it went away, or gave up): so does the turn.
                brain.kill()

    def cancel(self, turn_id: str) -> None:
        brain = self._running_or_stop(turn_id)
        if brain is not None:
            brain.cancel()

    def send(self, turn_id: str, follow_up: FollowUp | ApprovalDecision) -> None:
        with self._lock:
            brain = self._turns.get(turn_id)
        if brain is not None:
            brain.send(follow_up)
        # else the turn is over (or not begun): its stream tells the pool, whose
        # follow-ups still waiting are refused when the turn ends

    def kill(self, turn_id: str) -> None:
        brain = self._running_or_stop(turn_id)
        if brain is not None:
            brain.kill()

    def _running_or_stop(self, turn_id: str) -> BrainProcess | None:
        """The turn's process, or None after making sure it will never start."""
        with self._lock:
            brain = self._turns.get(turn_id)
            if brain is None:
                self._stopped_early[turn_id] = None
                while len(self._stopped_early) > _EARLY_STOPS:
                    del self._stopped_early[next(iter(self._stopped_early))]
            return brain

    def running(self) -> int:
        with self._lock:
            return len(self._turns)


def node_actor(node_id: str, slots: int, name: str) -> Any:
    """A new runner actor on `node_id`, named `name` (unique to the runner that asks).

    Never one found by name: an actor of an earlier runner (a pool restarted, another
    service on the cluster) may be on its way out, and turns sent there would be lost
    with it. Not detached: it belongs to this service and goes when the service does,
    or when its runner closes. Its threads: one per possible turn, plus room for
    cancel, kill and ready calls.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    global _actor_class
    if _actor_class is None:
        _actor_class = ray.remote(NodeRunner)
    return _actor_class.options(
        name=name, namespace=NAMESPACE,
        num_cpus=0, max_concurrency=2 * slots + 4, max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote()
