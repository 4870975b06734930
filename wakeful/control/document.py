"""The state document: what `wakeful state` shows, assembled from the actors' own snapshots.

`Service.state()` asks every actor through its mailbox; this module only joins those
answers (a pure function, no I/O): each actor's status, restarts and last failure come
from its supervisor's snapshot, its heartbeat from the watchdog's, its mailbox depth
from the service; a chat's running turn is joined with what the brain pool knows of it.
Times are seconds (`*_s`) or ISO 8601 wall times (`*_at`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

ROOT = "root"
CHAT_PREFIX = "chat:"
# Keys every snapshot carries for the tree's bookkeeping (the sections leave them out),
# and histograms, which are the metrics endpoint's business, not a reader's.
_LEFT_OUT = ("id", "generation", "fenced", "supervisor", "mailbox", "histograms")


def build(raw: dict[str, Any], previews: bool = True) -> dict[str, Any]:
    """The document for one state request; without previews no message text is in it."""
    snapshots: dict[str, dict[str, Any]] = raw.get("actors", {})
    service = raw.get("service", {})
    watchdog = snapshots.get("watchdog", {})
    pool = snapshots.get("brain_pool", {})
    index = _PoolIndex(pool)
    chats = [_chat(s, index, previews) for name, s in snapshots.items()
             if name.startswith(CHAT_PREFIX) and "chat_id" in s]
    with_work = [c for c in chats if _has_work(c)]
    return {
        "wakeful": {
            "version": service.get("version"),
            "pid": service.get("pid"),
            "started_at": _iso(service.get("started_at")),
            "uptime_s": service.get("uptime_s"),
            "gave_up": raw.get("gave_up"),
            "undeliverable": raw.get("undeliverable"),
            "abandoned_threads": raw.get("abandoned_threads"),
        },
        "journal": raw.get("journal", {}),
        "actors": list(_actors(snapshots, watchdog)),
        "chats": sorted(with_work, key=lambda c: c["chat_id"]),
        "idle_chats": len(chats) - len(with_work),
        "brain_pool": _section(pool),
        "outbound": _section(snapshots.get("outbound", {})),
        "poller": _section(snapshots.get("poller", {})),
        "retention": _section(snapshots.get("retention", {})),
        "watchdog": _section({k: v for k, v in watchdog.items() if k != "watched"}),
        "previews": previews,
    }


# --- the tree ------------------------------------------------------------------------


def _actors(snapshots: dict[str, dict[str, Any]],
            watchdog: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every actor, depth first from the root in start order, with its supervisor's view."""
    records: dict[str, dict[str, Any]] = {}
    order: dict[str, list[str]] = {}
    for name, snapshot in snapshots.items():
        children = snapshot.get("children")
        if isinstance(children, list):
            order[name] = [c["id"] for c in children]
            for child in children:
                records[child["id"]] = child
    watched = watchdog.get("watched", {})
    stale = set(watchdog.get("stale", ()))
    seen: set[str] = set()

    def walk(name: str, parent: str | None) -> Iterator[dict[str, Any]]:
        if name in seen:
            return
        seen.add(name)
        actor = _actor(name, snapshots.get(name), records.get(name), watched.get(name),
                       name in stale)
        actor["supervisor"] = actor["supervisor"] or parent  # one waiting for its restart
        yield actor
        for child in order.get(name, ()):
            yield from walk(child, name)

    if ROOT in snapshots:
        yield from walk(ROOT, None)
    for name in sorted(set(snapshots) - seen):  # not under the root: show it all the same
        yield from walk(name, None)


def _actor(name: str, snapshot: dict[str, Any] | None, record: dict[str, Any] | None,
           watched: dict[str, Any] | None, stale: bool) -> dict[str, Any]:
    failure = (record or {}).get("last_failure")
    return {
        "name": name,
        "supervisor": (snapshot or {}).get("supervisor"),
        "status": _status(snapshot, record, stale),
        "generation": (snapshot or record or {}).get("generation"),
        "mailbox": (snapshot or {}).get("mailbox"),
        "heartbeat_age_s": (watched or {}).get("last_beat_age"),
        "restarts": (record or {}).get("restarts", 0),
        "last_failure": None if not failure else {
            "reason": failure["reason"], "at": _iso(failure["at"])},
    }


def _status(snapshot: dict[str, Any] | None, record: dict[str, Any] | None,
            stale: bool) -> str:
    if snapshot is None:
        # Known to its supervisor only: between a failure and its restart.
        return "restart pending" if (record or {}).get("restart_pending") else "down"
    if "unresponsive" in snapshot or "snapshot_failed" in snapshot or stale:
        return "unresponsive"
    if snapshot.get("fenced"):
        return "fenced"
    return "alive"


# --- chats ---------------------------------------------------------------------------


class _PoolIndex:
    """The pool's lists by chat and turn, built once: a storm has thousands of chats."""

    def __init__(self, pool: dict[str, Any]) -> None:
        self.running = {r.get("turn"): r for r in pool.get("running", ())}
        self.positions: dict[int, int] = {}
        for position, chat_id in enumerate(pool.get("waiting", ()), start=1):
            self.positions.setdefault(chat_id, position)
        self.backing_off = set(pool.get("backing_off", ()))


def _chat(snapshot: dict[str, Any], pool: _PoolIndex, previews: bool) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "chat_id": snapshot["chat_id"],
        "status": snapshot.get("status"),
        "queued": snapshot.get("queued", 0),
        "owed": snapshot.get("owed", 0),
        "turn": _turn(snapshot, pool, previews),
        "session_id": snapshot.get("session_id"),
        "turns": snapshot.get("turns"),
        "cost_usd": snapshot.get("cost_usd"),
    }
    if previews:
        chat["previews"] = list(snapshot.get("previews", ()))
    return chat


def _turn(snapshot: dict[str, Any], pool: _PoolIndex, previews: bool) -> dict[str, Any] | None:
    turn_id = snapshot.get("turn")
    if turn_id is None:
        return None
    chat_id = snapshot["chat_id"]
    turn: dict[str, Any] = {"id": turn_id, "state": "requested",
                            "age_s": snapshot.get("turn_age")}
    running = pool.running.get(turn_id)
    if running is not None:
        turn.update(state="running", attempt=running.get("attempt"), node=running.get("node"),
                    brain_pid=running.get("pid"), running_for_s=running.get("seconds"),
                    last_event=running.get("last_event"),
                    last_event_age_s=running.get("last_event_age"),
                    session_id=running.get("session_id"))
    elif chat_id in pool.positions:
        turn.update(state="waiting", position=pool.positions[chat_id])
    elif chat_id in pool.backing_off:
        turn["state"] = "backing off"
    if previews:
        turn["preview"] = snapshot.get("turn_preview")
    return turn


def _has_work(chat: dict[str, Any]) -> bool:
    return bool(chat["turn"] or chat["queued"] or chat["owed"]
                or chat["status"] not in (None, "idle"))


# --- helpers -------------------------------------------------------------------------


def _section(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in _LEFT_OUT}


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")
