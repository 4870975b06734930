"""The document joins what each actor said of itself; the tree shows it as typed."""

from __future__ import annotations

from typing import Any

from wakeful.control.document import build
from wakeful.control.render import MAX_CHATS_SHOWN, render_text, seconds, size


def _raw(**actors: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, dict[str, Any]] = {
        "root": {"supervisor": None, "mailbox": 0, "generation": 1, "fenced": False,
                 "children": [
                     {"id": "brain_pool", "generation": 1, "restarts": 0,
                      "restart_pending": False, "last_failure": None},
                     {"id": "poller", "generation": -1, "restarts": 2,
                      "restart_pending": True,
                      "last_failure": {"reason": "RuntimeError('boom')", "at": 1_700_000_000}},
                     {"id": "chats", "generation": 1, "restarts": 0, "restart_pending": False,
                      "last_failure": None},
                     {"id": "watchdog", "generation": 1, "restarts": 0,
                      "restart_pending": False, "last_failure": None},
                 ]},
        "brain_pool": {"supervisor": "root", "mailbox": 3, "generation": 1, "fenced": False,
                       "cap": 1, "busy": 1, "waiting": [7], "backing_off": [],
                       "running": [{"turn": "5/1/1", "chat": 5, "pid": 4242, "seconds": 9.0,
                                    "node": "node-b",
                                    "attempt": 1, "last_event": "tool_use",
                                    "last_event_age": 1.5, "session_id": "s-1"}],
                       "histograms": {"turn_seconds": {}}},
        "chats": {"supervisor": "root", "mailbox": 0, "generation": 1, "fenced": False,
                  "children": [{"id": "chat:5", "generation": 1, "restarts": 0,
                                "restart_pending": False, "last_failure": None},
                               {"id": "chat:7", "generation": 1, "restarts": 0,
                                "restart_pending": False, "last_failure": None},
                               {"id": "chat:9", "generation": 1, "restarts": 0,
                                "restart_pending": False, "last_failure": None}]},
        "chat:5": {"supervisor": "chats", "mailbox": 0, "fenced": False, "chat_id": 5,
                   "status": "thinking", "queued": 1, "owed": 2, "turn": "5/1/1",
                   "turn_age": 9.5, "turn_preview": "[bold]not markup[/bold]",
                   "previews": ["next one"], "session_id": None, "turns": 3,
                   "cost_usd": 0.25},
        "chat:7": {"supervisor": "chats", "mailbox": 0, "fenced": False, "chat_id": 7,
                   "status": "queued #1", "queued": 0, "owed": 1, "turn": "7/1/1",
                   "turn_age": 2.0, "turn_preview": "hello", "previews": []},
        "chat:9": {"supervisor": "chats", "mailbox": 0, "fenced": False, "chat_id": 9,
                   "status": "idle", "queued": 0, "owed": 0, "turn": None, "previews": []},
        "watchdog": {"supervisor": "root", "mailbox": 1, "fenced": False, "stale": [],
                     "watched": {"root": {"last_beat_age": 0.5},
                                 "brain_pool": {"last_beat_age": 12.0}}},
    }
    base.update(actors)
    return {"service": {"version": "9.9", "pid": 1, "started_at": 1_700_000_000.0,
                        "uptime_s": 3.0},
            "actors": base, "journal": {"path": "/j", "bytes": 2048}, "undeliverable": 0,
            "abandoned_threads": {"alive": 0}, "gave_up": None}


def test_each_actor_gets_its_supervisors_view_and_its_heartbeat() -> None:
    doc = build(_raw())
    actors = {a["name"]: a for a in doc["actors"]}
    assert [a["name"] for a in doc["actors"]] == [
        "root", "brain_pool", "poller", "chats", "chat:5", "chat:7", "chat:9", "watchdog"]
    assert actors["brain_pool"]["mailbox"] == 3
    assert actors["brain_pool"]["heartbeat_age_s"] == 12.0
    assert actors["poller"] == {
        "name": "poller", "supervisor": "root", "status": "restart pending", "generation": -1,
        "mailbox": None, "heartbeat_age_s": None, "restarts": 2,
        "last_failure": {"reason": "RuntimeError('boom')", "at": "2023-11-14T22:13:20+00:00"}}
    assert "histograms" not in doc["brain_pool"]


def test_silent_stale_and_fenced_actors_say_so() -> None:
    raw = _raw()
    raw["actors"]["brain_pool"] = {"unresponsive": "Timeout", "supervisor": "root",
                                   "mailbox": 900}
    raw["actors"]["chats"]["fenced"] = True
    raw["actors"]["watchdog"]["stale"] = ["chat:5"]
    actors = {a["name"]: a for a in build(raw)["actors"]}
    assert actors["brain_pool"]["status"] == "unresponsive"
    assert actors["brain_pool"]["mailbox"] == 900
    assert actors["chats"]["status"] == "fenced"
    assert actors["chat:5"]["status"] == "unresponsive"


def test_a_chats_turn_is_joined_with_the_pool_and_idle_chats_are_only_counted() -> None:
    doc = build(_raw())
    chats = {c["chat_id"]: c for c in doc["chats"]}
    assert set(chats) == {5, 7} and doc["idle_chats"] == 1
    assert chats[5]["turn"] == {
        "id": "5/1/1", "state": "running", "age_s": 9.5, "attempt": 1, "node": "node-b",
        "brain_pid": 4242,
        "running_for_s": 9.0, "last_event": "tool_use", "last_event_age_s": 1.5,
        "session_id": "s-1", "preview": "[bold]not markup[/bold]"}
    assert chats[7]["turn"]["state"] == "waiting" and chats[7]["turn"]["position"] == 1
    assert chats[5]["previews"] == ["next one"] and chats[5]["cost_usd"] == 0.25


def test_without_previews_no_message_text_is_in_the_document() -> None:
    doc = build(_raw(), previews=False)
    assert doc["previews"] is False
    assert "not markup" not in str(doc) and "next one" not in str(doc)
    assert "hello" not in str(doc)
    assert {c["chat_id"]: c["queued"] for c in doc["chats"]} == {5: 1, 7: 0}


def test_the_tree_shows_user_text_as_typed_and_every_number() -> None:
    text = render_text(build(_raw()))
    assert "└── '[bold]not markup[/bold]'" in text, "user text is never rich markup"
    assert "restart pending" in text and "RuntimeError('boom')" in text
    assert "brain pid 4242" in text and "last tool_use 1.5s ago" in text
    assert "waiting #1" in text and "queued: 'next one'" in text
    assert "$0.2500 so far" in text and "3 turns" in text
    assert "2.0 KiB (2048 bytes, file + -wal)" in text
    assert "\x1b[" not in text


def test_a_storm_of_chats_is_cut_short_in_the_tree_not_in_the_json() -> None:
    raw = _raw()
    for name in ("chat:5", "chat:7", "chat:9"):
        del raw["actors"][name]
    many = range(1000, 1000 + MAX_CHATS_SHOWN + 25)
    raw["actors"]["chats"]["children"] = [
        {"id": f"chat:{c}", "generation": 1, "restarts": 0, "restart_pending": False,
         "last_failure": None} for c in many]
    for c in many:
        raw["actors"][f"chat:{c}"] = {"supervisor": "chats", "mailbox": 0, "chat_id": c,
                                      "status": "queued #3", "queued": 0, "owed": 1,
                                      "turn": f"{c}/1/1", "previews": []}
    doc = build(raw)
    assert len(doc["chats"]) == MAX_CHATS_SHOWN + 25
    assert "… 25 more chat actors (wakeful state --json lists every one)" in render_text(doc)


def test_durations_and_sizes_read_like_a_person_would_say_them() -> None:
    assert [seconds(v) for v in (None, 0.25, 59.9, 61, 3599, 3600 * 5 + 120, 86400 * 3)] == [
        "-", "0.2s", "59.9s", "1m01s", "59m59s", "5h02m", "3d00h"]
    assert [size(v) for v in (None, 10, 2048, 5 * 1024 ** 3)] == [
        "-", "10 B", "2.0 KiB", "5.0 GiB"]


def test_a_ray_pool_shows_its_runner_nodes_and_the_node_of_each_running_turn() -> None:
    raw = _raw()
    raw["actors"]["brain_pool"].update(
        runner="ray", runner_state="ready",
        nodes=[{"node": "node-a0123456789", "address": "10.0.0.1", "slots": 2, "busy": 0},
               {"node": "node-b0123456789", "address": "10.0.0.2", "slots": 2, "busy": 1}])
    raw["actors"]["brain_pool"]["running"][0]["node"] = "node-b0123456789"
    text = render_text(build(raw), width=160)
    assert "runner ray (ready) · nodes node-a01@10.0.0.1 0/2 node-b01@10.0.0.2 1/2" in text
    assert "brain pid 4242 on node node-b01" in text  # the chat's line in the tree
    row = next(line for line in text.splitlines() if line.startswith("5 "))
    assert row.split()[:5] == ["5", "5/1/1", "1", "node-b01", "4242"]  # the running table


def test_a_local_pool_names_no_runner_and_its_turns_run_locally() -> None:
    raw = _raw()
    del raw["actors"]["brain_pool"]["running"][0]["node"]  # this machine
    raw["actors"]["brain_pool"]["runner"] = "local"
    text = render_text(build(raw), width=160)
    assert "runner" not in text and "on node" not in text
    row = next(line for line in text.splitlines() if line.startswith("5 "))
    assert row.split()[:5] == ["5", "5/1/1", "1", "local", "4242"]


def test_a_pool_with_warm_processes_shows_each_waiting_chat_and_the_warm_starts() -> None:
    raw = _raw()
    raw["actors"]["brain_pool"].update(
        warm=[{"chat": 7, "pid": 5151, "session_id": "s-7", "idle_seconds": 42.0}],
        warm_starts=3, cold_starts=2, max_warm=4, processes=2)
    text = render_text(build(raw), width=160)
    assert "warm 1/4: 7 (pid 5151, idle 42.0s) · warm starts 3, cold 2 · brain processes 2" in text
