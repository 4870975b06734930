"""Which node runs a chat's turns: pure decisions, no Ray.

A chat's Claude session lives in its workdir, on one node's disk. Unless the workdir
root is shared, a chat is pinned: the first time, to the node that rendezvous hashing
picks among the live ones (the same node for the same set of nodes, across restarts),
and from then on to that node for as long as it lives. A node that joins takes no chat
away from another; only a chat whose node is gone moves (its next turn then starts a
fresh session, and the user is told so once by the pool's session fallback).

With a shared workdir root any node will do: the least busy one with a free slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

BRAIN_RESOURCE = "wakeful_brain"  # a node's custom resource: how many turns it runs at once


def brain_nodes(nodes: list[dict[str, Any]]) -> dict[str, int]:
    """Node id -> slots, from `ray.nodes()`: the live nodes that offer `wakeful_brain`,
    its amount being their slots. Only those: which machines may run the CLI, with the
    credentials and disks that takes, is the operator's explicit choice."""
    return {n["NodeID"]: int(n["Resources"][BRAIN_RESOURCE]) for n in nodes
            if n.get("Alive") and n.get("Resources", {}).get(BRAIN_RESOURCE, 0) >= 1}


def rendezvous(chat_id: int, nodes: list[str]) -> str | None:
    """The node with the highest hash for this chat (highest random weight hashing)."""
    def weight(node: str) -> bytes:
        return hashlib.blake2b(f"{chat_id}/{node}".encode(), digest_size=8).digest()

    return max(nodes, key=weight, default=None)


class Placement:
    """Where each chat runs. `free` maps every live node to its free slots."""

    def __init__(self, shared_workdir: bool) -> None:
        self.shared_workdir = shared_workdir
        self._pins: dict[int, str] = {}

    def node_for(self, chat_id: int, free: Mapping[str, int]) -> str | None:
        """The node this chat's next turn must run on (it may be full: then it waits)."""
        if self.shared_workdir:
            best = max(free.items(), key=lambda item: (item[1], item[0]), default=None)
            return best[0] if best is not None and best[1] > 0 else None
        pinned = self._pins.get(chat_id)
        if pinned in free:
            return pinned
        node = rendezvous(chat_id, sorted(free))
        if node is not None:
            self._pins[chat_id] = node
        return node

    def pinned(self, chat_id: int) -> str | None:
        return self._pins.get(chat_id)
