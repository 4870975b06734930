"""The docs describe the code that exists: every actor of the tree and every message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wakeful import messages
from wakeful.config import Config
from wakeful.tree import Parts, root_children

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_architecture_doc_names_every_child_of_the_root_in_start_order() -> None:
    parts = Parts(Config(), gateway=None, journal=None, bot=None)  # type: ignore[arg-type]
    ids = [spec.id for spec in root_children(parts)]
    text = (DOCS / "architecture.md").read_text()
    tree = text[text.index("```text"):]
    positions = [tree.index(f"── {child_id}") for child_id in ids]
    assert positions == sorted(positions), "the text tree lists children in start order"


def test_architecture_doc_mentions_every_message_of_the_life_of_a_message() -> None:
    text = (DOCS / "architecture.md").read_text()
    for name in ("PollDue", "UpdatesFetched", "MessageArrived", "TurnRequested", "TurnQueued",
                 "TurnStarted", "TurnProgressed", "TurnFinished", "PingSent", "HeartbeatBeat",
                 "ChildStale", "WorkWaiting", "ChatIdle"):
        assert hasattr(messages, name), f"{name} is no longer a message"
        assert name in text, f"docs/architecture.md does not mention {name}"


def test_every_actor_message_is_a_frozen_dataclass() -> None:
    for name in dir(messages):
        obj = getattr(messages, name)
        if isinstance(obj, type) and obj.__module__ == messages.__name__:
            assert dataclasses.is_dataclass(obj), name
            assert obj.__dataclass_params__.frozen, f"{name} must be frozen"  # type: ignore[attr-defined]
