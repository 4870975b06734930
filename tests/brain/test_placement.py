"""Where a chat's turns run on a cluster: pinned to one node while it lives, or anywhere
when the workdir root is shared. Pure decisions, no Ray."""

from __future__ import annotations

import pytest

from wakeful.brain.config import BrainConfig
from wakeful.brain.placement import Placement, brain_nodes, rendezvous
from wakeful.brain.timers import TimerLimits
from wakeful.config import ConfigError, load

CHATS = range(1, 201)


def test_a_chat_goes_to_the_same_node_for_the_same_nodes_even_after_a_restart() -> None:
    nodes = {"a": 2, "b": 2, "c": 2}
    first = {chat: Placement(False).node_for(chat, nodes) for chat in CHATS}
    again = {chat: Placement(False).node_for(chat, dict(reversed(nodes.items())))
             for chat in CHATS}
    assert first == again
    assert set(first.values()) == {"a", "b", "c"}, "chats spread over every node"


def test_a_joining_node_takes_no_chat_away_and_only_the_lost_nodes_chats_move() -> None:
    placement = Placement(False)
    before = {chat: placement.node_for(chat, {"a": 2, "b": 2}) for chat in CHATS}
    with_c = {chat: placement.node_for(chat, {"a": 2, "b": 2, "c": 2}) for chat in CHATS}
    assert with_c == before
    without_a = {chat: placement.node_for(chat, {"b": 2, "c": 2}) for chat in CHATS}
    assert all(without_a[chat] == "b" for chat in CHATS if before[chat] == "b")
    assert {without_a[chat] for chat in CHATS if before[chat] == "a"} == {"b", "c"}


def test_a_pinned_chat_waits_for_its_full_node_rather_than_move() -> None:
    placement = Placement(False)
    home = placement.node_for(7, {"a": 1, "b": 1})
    other = "b" if home == "a" else "a"
    assert placement.node_for(7, {home: 0, other: 1}) == home


def test_with_a_shared_workdir_any_chat_goes_to_the_least_busy_node() -> None:
    placement = Placement(True)
    assert placement.node_for(7, {"a": 1, "b": 3}) == "b"
    assert placement.node_for(7, {"a": 0, "b": 0}) is None
    assert placement.pinned(7) is None


def test_while_no_node_is_known_a_chat_keeps_its_pin() -> None:
    placement = Placement(False)
    home = placement.node_for(7, {"a": 1, "b": 1})
    assert placement.node_for(7, {}) is None
    assert placement.pinned(7) == home


def test_rendezvous_of_no_nodes_is_none() -> None:
    assert rendezvous(7, []) is None


def test_only_live_nodes_that_offer_brain_slots_run_brains() -> None:
    nodes = [
        {"NodeID": "head", "Alive": True, "Resources": {"CPU": 1.0}},
        {"NodeID": "w1", "Alive": True, "Resources": {"CPU": 1.0, "wakeful_brain": 4.0}},
        {"NodeID": "w2", "Alive": False, "Resources": {"wakeful_brain": 2.0}},
    ]
    assert brain_nodes(nodes) == {"w1": 4}


def test_the_runner_is_local_unless_told_and_a_typo_is_one_line() -> None:
    assert BrainConfig().runner == "local"
    assert load(None, {"WAKEFUL_BRAIN_RUNNER": "ray"}).brain.runner == "ray"
    with pytest.raises(ConfigError, match='runner must be "local" or "ray", got \'rey\''):
        load(None, {"WAKEFUL_BRAIN_RUNNER": "rey"})
    with pytest.raises(ConfigError, match="ray_address must not be empty"):
        load(None, {"WAKEFUL_BRAIN_RAY_ADDRESS": " "})


def test_the_timer_defaults_are_the_childs() -> None:
    assert BrainConfig().limits() == TimerLimits()
