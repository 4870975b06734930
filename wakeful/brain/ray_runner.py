"""RayRunner: turns in child processes on the nodes of a Ray cluster.

Threads, and why none of them is the pool's:
    the pool's actor thread   `accepts`, `capacity`, `start`, `send`, `cancel`, `kill`,
                              `status`:
                              table lookups and Ray's non-blocking `.remote()` calls
    "wakeful-ray"             connects, then every `refresh` seconds lists the live nodes
                              and starts a runner actor on each new one (ray.init,
                              ray.nodes and the actor's first answer all block)
    "wakeful-turn-<id>"       one per turn: drains its stream of items (Spawned, events,
                              ChildReport) and calls the pool's callbacks, as at home

A node or its actor that dies mid-turn ends the stream with an error: the turn's report
says `node_lost`, which the pool retries (at least once, as after a crash of the whole
service), on another node once this one is out of the table.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from wakeful.brain.child import ApprovalDecision, ChildReport, FollowUp, TurnSpec
from wakeful.brain.config import BrainConfig
from wakeful.brain.outcome import NODE_LOST
from wakeful.brain.placement import Placement, brain_nodes
from wakeful.brain.ray_node import ACTOR_PREFIX, NAMESPACE, Exited, node_actor
from wakeful.brain.runner import OnChange, OnExit, OnItem, RunnerStatus, RunnerUnavailable

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0  # a new node's actor must answer within this (starting a worker is slow)
QUARANTINE = 30.0  # a node whose actor died mid-turn gets no turns for this long
KILL_PATIENCE = 10.0  # after kill(), how long a turn's stream may stay silent before we let go
_POLL = 0.5


@dataclass
class _Node:
    node_id: str
    address: str
    slots: int
    actor: Any
    busy: int = 0


class RayRunner:
    kind = "ray"

    def __init__(self, config: BrainConfig, on_change: OnChange, refresh: float = 1.0) -> None:
        self._config = config
        self._on_change = on_change
        self._refresh = refresh
        self._lock = threading.Lock()  # the table below, shared by every thread above
        self._nodes: dict[str, _Node] = {}
        self._lost: dict[str, float] = {}  # node id -> when it may have turns again
        # Node actors started but not yet ready: node id -> (actor, ready ref, info, since).
        self._pending: dict[str, tuple[Any, Any, dict[str, Any], float]] = {}
        self._placement = Placement(config.shared_workdir)
        # Node actors are this runner's alone: named by it, killed when it closes.
        self._id = uuid.uuid4().hex[:8]
        self._serial = itertools.count(1)
        self._state = "connecting"
        self._stopped = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="wakeful-ray", daemon=True)
        self._watcher.start()

    # --- the pool's side: never blocks ------------------------------------------------

    def warm_up(self) -> None:
        """The watcher thread connects and starts the node actors; nothing to wait for."""

    def _free(self) -> dict[str, int]:
        return {n.node_id: n.slots - n.busy for n in self._nodes.values()}

    def accepts(self, chat_id: int) -> bool:
        with self._lock:
            free = self._free()
            node = self._placement.node_for(chat_id, free)
            return node is not None and free[node] > 0

    def capacity(self) -> int:
        with self._lock:
            return sum(max(0, f) for f in self._free().values())

    def start(self, spec: TurnSpec, chat_id: int, on_item: OnItem, on_exit: OnExit) -> RayTurn:
        with self._lock:
            free = self._free()
            node_id = self._placement.node_for(chat_id, free)
            if node_id is None or free[node_id] <= 0:
                raise RunnerUnavailable(f"no free slot on a node for chat {chat_id} "
                                        f"(cluster: {self._state})")
            node = self._nodes[node_id]
            node.busy += 1
        # Warm processes are the local runner's: a node's turn ends with its process.
        spec = dataclasses.replace(spec, keep_warm=0.0)
        try:
            stream = node.actor.run.remote(spec)
        except Exception:
            self._turn_ended(node, lost=False)
            raise
        turn = RayTurn(spec.turn_id, node, stream, on_item, on_exit, self._turn_ended)
        turn.start()
        return turn

    def status(self) -> RunnerStatus:
        with self._lock:
            nodes = tuple({"node": n.node_id, "address": n.address, "slots": n.slots,
                           "busy": n.busy} for n in self._nodes.values())
            return RunnerStatus(self.kind, self._state, nodes)

    def close(self) -> None:
        self._stopped.set()

    # --- turn threads ------------------------------------------------------------------

    def _turn_ended(self, node: _Node, lost: bool) -> None:
        """Runs on the turn's thread when its stream is over."""
        with self._lock:
            # The turn's own entry: if the node left and joined again, its new entry
            # counts only the turns started since.
            node.busy -= 1
            if lost and self._nodes.get(node.node_id) is node:
                # Out of the table now, not at the next refresh: the retry must go elsewhere.
                log.warning("node %s is gone; its chats move to the other nodes",
                            node.node_id[:12])
                del self._nodes[node.node_id]
                self._lost[node.node_id] = time.monotonic() + QUARANTINE
        self._on_change()

    # --- the watcher thread --------------------------------------------------------------

    def _watch(self) -> None:
        """Executed on the "wakeful-ray" thread until the runner is closed."""
        while not self._stopped.is_set():
            try:
                if not ray.is_initialized():
                    self._set_state("connecting")
                    ray.init(address=self._config.ray_address, namespace=NAMESPACE,
                             log_to_driver=False, logging_level=logging.WARNING)
                self._refresh_nodes()
            except Exception as exc:  # any failure here is the cluster's, shown in state
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self._set_state(f"unreachable: {first_line[:200]}")
                with self._lock:
                    had_nodes = bool(self._nodes)
                    self._nodes.clear()  # no new turns until it answers again
                if had_nodes:
                    self._on_change()
                log.warning("ray cluster at %s: %s", self._config.ray_address, first_line)
                self._stopped.wait(max(self._refresh, 5.0))
                continue
            self._stopped.wait(self._refresh)
        self._kill_node_actors()

    def _kill_node_actors(self) -> None:
        """The runner is closed: its node actors go now, not whenever Ray collects them,
        so a runner started next (a restarted pool) never meets one on its way out."""
        with self._lock:
            actors = [n.actor for n in self._nodes.values()]
            self._nodes.clear()
        actors += [actor for actor, *_ in self._pending.values()]
        self._pending.clear()
        for actor in actors:
            _kill(actor)

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    def _refresh_nodes(self) -> None:
        listed = ray.nodes()
        info = {n["NodeID"]: n for n in listed}
        now = time.monotonic()
        wanted = {node_id: (slots, info[node_id])
                  for node_id, slots in brain_nodes(listed).items()
                  if self._lost.get(node_id, 0.0) < now}
        changed = False
        with self._lock:
            for node_id in [k for k in self._nodes if k not in wanted]:
                # Gone from the cluster (or it stopped offering slots): no new turns there.
                del self._nodes[node_id]
                changed = True
            known = set(self._nodes)
            self._state = "ready" if wanted else "no nodes"
        for node_id, (slots, node_info) in wanted.items():
            if node_id not in known and node_id not in self._pending:
                name = f"{ACTOR_PREFIX}{node_id}-{self._id}-{next(self._serial)}"
                actor = node_actor(node_id, slots, name)
                self._pending[node_id] = (actor, actor.ready.remote(), node_info, now)
        changed = self._admit_ready(wanted) or changed
        if changed:
            self._on_change()

    def _admit_ready(self, wanted: dict[str, Any]) -> bool:
        """Node actors that answered join the table; none is waited for here."""
        joined = False
        for node_id, (actor, ready, info, since) in list(self._pending.items()):
            done, _ = ray.wait([ready], timeout=0)
            if not done:
                if time.monotonic() - since > READY_TIMEOUT or node_id not in wanted:
                    log.warning("ray node %s: runner actor did not start; trying again",
                                node_id[:12])
                    del self._pending[node_id]
                    _kill(actor)  # should it start after all
                continue
            del self._pending[node_id]
            try:
                ray.get(ready, timeout=0)
            except RayError as exc:
                log.warning("ray node %s: runner actor failed: %s", node_id[:12],
                            _first_line(exc))
                continue
            if node_id not in wanted:
                continue
            slots = wanted[node_id][0]
            with self._lock:
                self._nodes[node_id] = _Node(node_id, str(info.get("NodeManagerAddress")),
                                             slots, actor)
            log.info("ray node %s joined with %d slots", node_id[:12], slots)
            joined = True
        return joined


class RayTurn:
    """A turn on a node, seen through the TurnHandle protocol."""

    local = False

    def __init__(self, turn_id: str, node: _Node, stream: Any, on_item: OnItem,
                 on_exit: OnExit, ended: Callable[[_Node, bool], None]) -> None:
        self.turn_id = turn_id
        self.node: str | None = node.node_id
        self._entry = node
        self._actor = node.actor
        self._stream = stream
        self._on_item = on_item
        self._on_exit = on_exit
        self._ended = ended
        self._killed_at: float | None = None
        self._reader = threading.Thread(target=self._read, name=f"wakeful-turn-{turn_id}",
                                        daemon=True)

    def start(self) -> None:
        self._reader.start()

    def cancel(self) -> None:
        self._actor.cancel.remote(self.turn_id)

    def send(self, follow_up: FollowUp | ApprovalDecision) -> bool:
        self._actor.send.remote(self.turn_id, follow_up)
        return True

    def kill(self) -> None:
        self._killed_at = time.monotonic()
        self._actor.kill.remote(self.turn_id)

    def _items(self) -> Iterator[Any]:
        """The stream's items as they come; ends quietly if a kill goes unanswered."""
        while True:
            ready, _ = ray.wait([self._stream], timeout=_POLL)
            if not ready:
                if self._killed_at is not None and \
                        time.monotonic() - self._killed_at > KILL_PATIENCE:
                    return  # the node does not answer: let the pool have its slot back
                continue
            try:
                ref = next(self._stream)
            except StopIteration:
                return
            yield ray.get(ref)

    def _read(self) -> None:
        """Executed on this turn's reader thread until the stream ends or fails."""
        reported, lost, code = False, False, None
        try:
            for item in self._items():
                if isinstance(item, Exited):
                    code = item.code
                    break
                reported = reported or isinstance(item, ChildReport)
                self._on_item(item)
        except RayTaskError as exc:  # the node's runner failed to start the child
            if not reported:
                reported = True
                self._on_item(ChildReport(None, "spawn_failed", 0, _first_line(exc), False))
        except RayError as exc:  # the node, or its actor, is gone
            lost = True
            log.warning("turn %s lost with node %s: %s", self.turn_id,
                        (self.node or "?")[:12], _first_line(exc))
            if not reported:
                reported = True
                self._on_item(ChildReport(None, NODE_LOST, 0, _first_line(exc), False))
        finally:
            self._ended(self._entry, lost)
            self._on_exit(code)


def _kill(actor: Any) -> None:
    """End one of this runner's node actors; a failure here means it is gone already."""
    try:
        ray.kill(actor, no_restart=True)
    except Exception as exc:  # the cluster (and with it the actor) is unreachable
        log.info("ray node actor not killed: %s", _first_line(exc))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
