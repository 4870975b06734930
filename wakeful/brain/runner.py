"""The turn-runner protocol: how the brain pool has a turn's process started elsewhere.

The pool decides *which* turn runs *when* (admission, the cap, fairness, retries, the
journal); a runner only knows *how*: start the child that runs `child.run_turn` for
one `TurnSpec`, stream its items back (`Spawned`, the `BrainEvent`s and
`FollowUpDropped`s, `ChildReport`, in that order), then report the child's exit once;
pass it follow-ups, cancel or kill it by handle; and
say how many more turns it can take, and for which chats.

Callbacks run on a thread of the runner's, never the pool's: the pool turns them into
its own messages with `tell_quietly`, so no runner code ever runs on the actor thread
except the non-blocking calls below.

    LocalRunner  wakeful/brain/local_runner.py  fork-server children on this machine
    RayRunner    wakeful/brain/ray_runner.py    the same children on Ray cluster nodes
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wakeful.brain.child import ApprovalDecision, FollowUp, TurnSpec

# An item from the child: Spawned, a BrainEvent or the ChildReport.
OnItem = Callable[[Any], None]
# The child is gone; its exit code if known (None: killed, or lost with its node).
OnExit = Callable[[int | None], None]
# Something about the runner changed (a node came or went): worth another admission pass.
OnChange = Callable[[], None]


class RunnerUnavailable(Exception):
    """The runner cannot start this turn now (full, or its cluster is out of reach)."""


@dataclass(frozen=True)
class RunnerStatus:
    """What `wakeful state` shows of a runner."""

    kind: str
    state: str  # "ready", "connecting", "unreachable: <why>"
    nodes: tuple[dict[str, Any], ...] = ()
    # Brain processes kept between turns (chat, pid, session, idle seconds).
    warm: tuple[dict[str, Any], ...] = ()
    counters: dict[str, int] = field(default_factory=dict)


class TurnHandle(Protocol):
    """One started turn, held by the pool until its exit is reported."""

    @property
    def node(self) -> str | None:
        """Where the turn runs, for state dumps (None: this machine)."""

    @property
    def local(self) -> bool:
        """True when the brain's pid is a pid on this machine (the journal records it)."""

    def cancel(self) -> None:
        """Ask the child to end the turn; it kills the brain's group and reports."""

    def send(self, follow_up: FollowUp | ApprovalDecision) -> bool:
        """Pass a follow-up to the running child, which writes it into the brain's session
        and later reports `MessageTaken` (the CLI took it) or `FollowUpDropped` (too late).
        An ApprovalDecision answers the brain's tool question (ApprovalNeeded).
        False if this runner cannot deliver follow-ups at all."""

    def kill(self) -> None:
        """Last resort: kill the child and the brain's group now."""


class TurnRunner(Protocol):
    """Starts turns; every method returns at once (it runs on the pool's actor thread)."""

    kind: str

    def warm_up(self) -> None:
        """Prepare whatever the first turn would otherwise wait for."""

    def accepts(self, chat_id: int) -> bool:
        """Whether a turn of this chat could start now (a slot free where it would run)."""

    def capacity(self) -> int:
        """Turns this runner could start now, over all its nodes."""

    def start(self, spec: TurnSpec, chat_id: int, on_item: OnItem,
              on_exit: OnExit) -> TurnHandle:
        """Start the turn; raises RunnerUnavailable if it cannot, else calls back later."""

    def status(self) -> RunnerStatus:
        """The runner and its nodes, for `wakeful state`."""

    def close(self) -> None:
        """The pool is stopping: release what the runner holds (turns are killed first)."""
