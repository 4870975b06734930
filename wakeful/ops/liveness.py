"""Is wakeful really alive? The decision behind systemd's WATCHDOG=1, from two snapshots.

A process whose threads run is not yet alive: a wedged critical actor, or a poller that
Telegram answers 409 (another consumer of the token's updates), is a bot nobody hears.
So "live" means both:

* inside: the watchdog answered, and every *critical* actor it watches beat within its
  `stale_after` (a wedged chat is its supervisor's business, not the process's);
* outside: the poller answered, is not in a 409/401 streak, and its last getUpdates
  ended (with an answer or a failure) within `poll_timeout + POLL_MARGIN`: a poll that
  never ends is a poller that hears nothing.

A Telegram or network outage is not "not live": the poller keeps trying, a restart
would only kill the running turns, and the first poll that gets through delivers
everything that waited. The status line says so instead.

Pure: the snapshots carry their own ages (each actor reads its own clock), so this
module reads no clock and does no I/O; `None` stands for an actor that did not answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A long poll legitimately takes up to poll_timeout. Past that, the gateway's read
# timeout (poll_timeout + 10 s, bots/gateway.py POLL_READ_MARGIN) fails a poll that never
# answers; after a failure the poller waits at most 30 s (its backoff's cap) before the
# next poll; 5 s of slack. Longer than that without any poll ending, it hears nothing,
# whatever its threads are doing.
POLL_MARGIN = 45.0

# Failures that no retry of ours can outlast: a 409 means someone else takes the
# updates (a second instance, or a webhook), a 401 that the token is dead.
_DEAF_KINDS = {"conflict": "getUpdates answered 409 Conflict for {for_} (another poller, "
                           "or a webhook)",
               "unauthorized": "Telegram rejected the bot token (401) for {for_}"}


@dataclass(frozen=True)
class Verdict:
    live: bool
    reason: str = ""  # why not live, one line; empty when live


LIVE = Verdict(True)


def decide(watchdog: Mapping[str, Any] | None, poller: Mapping[str, Any] | None,
           poll_timeout: float) -> Verdict:
    """Live iff the inside and the outside both are (see the module docstring)."""
    inside = _inside(watchdog)
    return inside if not inside.live else _outside(poller, poll_timeout)


def _inside(watchdog: Mapping[str, Any] | None) -> Verdict:
    if watchdog is None:
        return Verdict(False, "the watchdog did not answer")
    worst: tuple[float, str, float] | None = None
    for name, watched in watchdog.get("watched", {}).items():
        if not watched.get("critical", True):
            continue
        age, stale_after = float(watched["last_beat_age"]), float(watched["stale_after"])
        if age >= stale_after and (worst is None or age / stale_after > worst[0]):
            worst = (age / stale_after, name, age)
    if worst is not None:
        _, name, age = worst
        return Verdict(False, f"{name} silent for {_seconds(age)}")
    return LIVE


def _outside(poller: Mapping[str, Any] | None, poll_timeout: float) -> Verdict:
    if poller is None:
        return Verdict(False, "the poller did not answer")
    if poller.get("stopped"):
        return Verdict(False, "polling stopped")
    kind = poller.get("last_failure_kind")
    if poller.get("consecutive_failures", 0) > 0 and kind in _DEAF_KINDS:
        failing_for = poller.get("failing_for") or 0.0
        return Verdict(False, _DEAF_KINDS[kind].format(for_=_seconds(failing_for)))
    since_ended = _since(poller, "last_poll_ended_age")
    if since_ended > poll_timeout + POLL_MARGIN:
        return Verdict(False, f"no getUpdates call ended for {_seconds(since_ended)} "
                              "(a poll is stuck)")
    return LIVE


def since_last_poll(poller: Mapping[str, Any]) -> float:
    """Seconds since getUpdates last answered (see `_since`)."""
    return _since(poller, "last_poll_ok_age")


def _since(poller: Mapping[str, Any], key: str) -> float:
    """A poller that has not got that far yet counts from its own start (a fresh one is
    given its first long poll)."""
    age = poller.get(key)
    return float(poller.get("age", 0.0) if age is None else age)


def status_line(verdict: Verdict, watchdog: Mapping[str, Any] | None,
                poller: Mapping[str, Any] | None, pool: Mapping[str, Any] | None) -> str:
    """The one line `systemctl status` shows: what the bot is doing, or why it is not live."""
    if not verdict.live:
        return f"NOT LIVE: {verdict.reason}"
    parts: list[str] = []
    if pool is not None:
        parts.append(f"{_count(len(pool.get('running', ())), 'turn')} running, "
                     f"{len(pool.get('waiting', ()))} waiting")
    if watchdog is not None:
        chats = sum(1 for name in watchdog.get("watched", {}) if name.startswith("chat:"))
        parts.append(_count(chats, "chat"))
    line = "serving: " + ", ".join(parts) if parts else "serving"
    if poller is not None and poller.get("consecutive_failures", 0):
        failing_for = float(poller.get("failing_for") or 0.0)
        line += (f"; Telegram unreachable for {_seconds(failing_for)} "
                 f"({poller.get('last_failure_kind')}), retrying")
    elif poller is not None and poller.get("last_poll_ok_age") is not None:
        line += f"; last getUpdates {since_last_poll(poller):.0f} s ago"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
