"""Warm brain processes: a chat's next turn runs in the process its last turn left
waiting (`[brain] keep_warm`, `max_warm`), over real PTB/HTTP with the stand-in brain,
which speaks the CLI's stream-json (tests/brain/test_warm_real_cli.py: the real CLI)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from tests.brain.turns import group_alive, wait_until

pytestmark = pytest.mark.timeout(90)


def _prompts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]



def _warm(bridge: Bridge) -> list[dict[str, Any]]:
    warm: list[dict[str, Any]] = bridge.pool()["warm"]
    return warm


def _bridge(standin_bridge: Any, tmp_path: Path, chats: list[int], **brain: Any) -> Bridge:
    env = {"WAKEFUL_STANDIN_PROMPTS": str(tmp_path / "prompts.jsonl"),
           "WAKEFUL_STANDIN_ONCE": str(tmp_path / "once")}
    bridge: Bridge = standin_bridge(chats, brain_delay=0.1, env=env, **brain)
    return bridge


def test_the_next_message_runs_in_the_process_the_last_turn_left_warm(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chat = 660_001
    bridge = _bridge(standin_bridge, tmp_path, [chat], keep_warm=30.0)
    bridge.say(chat, "first")
    bridge.wait_replies(chat, 1)
    [warm] = wait_until(lambda: _warm(bridge), "the process to wait warm")
    assert warm["chat"] == chat and group_alive(warm["pid"])
    session = bridge.service.journal.session(chat)
    assert warm["session_id"] == session

    bridge.say(chat, "second")
    first, second = bridge.wait_replies(chat, 2)
    assert (first.text, second.text) == ("echo: first", "echo: second")
    taken = _prompts(tmp_path / "prompts.jsonl")
    assert [(p["prompt"], p["turn"]) for p in taken] == [("first", 1), ("second", 2)]
    assert taken[0]["pid"] == taken[1]["pid"] == warm["pid"], "one process, two turns"
    assert bridge.service.journal.session(chat) == session, "the same session goes on"
    pool = bridge.pool()
    assert (pool["cold_starts"], pool["warm_starts"], pool["processes"]) == (1, 1, 1)
    attempts = bridge.attempts(chat)
    assert [a["failure"] for a in attempts] == [None, None]
    assert [a["kept_warm"] for a in attempts] == [True, True]
    assert attempts[0]["pgid"] == attempts[1]["pgid"] == warm["pid"]
    assert_no_leftovers(bridge.service)


def test_a_warm_process_is_closed_after_keep_warm_and_the_next_turn_starts_cold(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chat = 660_002
    bridge = _bridge(standin_bridge, tmp_path, [chat], keep_warm=0.5)
    bridge.say(chat, "first")
    bridge.wait_replies(chat, 1)
    pid = _prompts(tmp_path / "prompts.jsonl")[0]["pid"]
    # Closed the gentle way (EOF, the CLI exits by itself) once keep_warm has passed.
    wait_until(lambda: not group_alive(pid), "the warm process to be closed", timeout=15)
    assert _warm(bridge) == []
    session = bridge.service.journal.session(chat)

    bridge.say(chat, "second")
    bridge.wait_replies(chat, 2)
    taken = _prompts(tmp_path / "prompts.jsonl")
    assert taken[1]["pid"] != pid and taken[1]["turn"] == 1, "a new process"
    assert taken[1]["resume"] == session, "which resumes the chat's session"
    assert bridge.pool()["cold_starts"] == 2


def test_at_most_max_warm_processes_wait_and_the_least_recently_used_is_closed(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chats = [660_011, 660_012, 660_013]
    bridge = _bridge(standin_bridge, tmp_path, chats, keep_warm=60.0, max_warm=2)
    for chat in chats:  # one after another, so the order of use is known
        bridge.say(chat, f"hello {chat}")
        bridge.wait_replies(chat, 1)
    wait_until(lambda: sorted(w["chat"] for w in _warm(bridge)) == chats[1:],
               "the two most recent chats to stay warm")
    first_pid = next(p["pid"] for p in _prompts(tmp_path / "prompts.jsonl")
                     if p["prompt"] == f"hello {chats[0]}")
    wait_until(lambda: not group_alive(first_pid), "the oldest warm process to be closed")
    assert_no_leftovers(bridge.service)


def test_without_keep_warm_every_turn_has_its_own_process(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chat = 660_021
    bridge = _bridge(standin_bridge, tmp_path, [chat], keep_warm=0.0)
    bridge.say(chat, "first")
    bridge.wait_replies(chat, 1)
    bridge.say(chat, "second")
    bridge.wait_replies(chat, 2)
    first, second = _prompts(tmp_path / "prompts.jsonl")
    assert first["pid"] != second["pid"]
    assert _warm(bridge) == []
    # Each ended child leaves the runner's books (no entry per turn, forever).
    wait_until(lambda: bridge.pool()["processes"] == 0, "no brain child left on the books")
    assert not group_alive(first["pid"]) and not group_alive(second["pid"])


def test_a_brain_that_crashes_mid_session_is_retried_in_a_new_process_of_the_same_session(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chat = 660_031
    bridge = _bridge(standin_bridge, tmp_path, [chat], keep_warm=30.0)
    bridge.say(chat, "first")
    bridge.wait_replies(chat, 1)
    session = bridge.service.journal.session(chat)
    bridge.say(chat, "crash [[exit-once 9]]")
    _, answer = bridge.wait_replies(chat, 2)
    assert answer.text == "echo: crash [[exit-once 9]]"
    first, crashed, retried = _prompts(tmp_path / "prompts.jsonl")
    assert crashed["pid"] == first["pid"] and crashed["turn"] == 2, "it crashed warm"
    assert retried["pid"] != first["pid"], "the retry runs in a new process"
    assert retried["resume"] == session, "which resumes the session"
    assert bridge.service.journal.session(chat) == session
    assert [a["failure"] for a in bridge.attempts(chat)] == [None, "crashed", None]
    assert bridge.attempts(chat)[1]["exit_code"] == 9
    assert not group_alive(first["pid"])


def test_new_closes_the_warm_process_and_starts_a_fresh_session(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chat = 660_041
    bridge = _bridge(standin_bridge, tmp_path, [chat], keep_warm=30.0)
    bridge.say(chat, "first")
    bridge.wait_replies(chat, 1)
    old_session = bridge.service.journal.session(chat)
    bridge.say(chat, "/new")
    wait_until(lambda: bridge.service.journal.session(chat) is None, "the session dropped")
    bridge.say(chat, "second")
    bridge.wait_replies(chat, 2)
    first, second = _prompts(tmp_path / "prompts.jsonl")
    assert second["pid"] != first["pid"] and second["resume"] is None
    assert bridge.service.journal.session(chat) not in (None, old_session)
    wait_until(lambda: not group_alive(first["pid"]), "the old session's process to be closed")


def test_stopping_the_service_closes_every_warm_process(
    standin_bridge: Any, tmp_path: Path,
) -> None:
    chats = [660_051, 660_052]
    bridge = _bridge(standin_bridge, tmp_path, chats, keep_warm=60.0)
    for chat in chats:
        bridge.say(chat, "hi")
    for chat in chats:
        bridge.wait_replies(chat, 1)
    warm = wait_until(lambda: len(_warm(bridge)) == 2 and _warm(bridge), "two warm")
    started = time.monotonic()
    bridge.service.stop()
    for process in warm:
        assert not group_alive(process["pid"]), process
    assert time.monotonic() - started < 15
