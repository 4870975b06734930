"""Watchdog: pings every supervised actor through its mailbox and reports the silent ones.

A ping waits in the mailbox behind whatever the actor is doing, so the heartbeat it
earns measures mailbox latency: a live thread stuck in a handler looks exactly as
dead as it is. Staleness is reported to the actor's supervisor, which replaces it.

The watchdog can be late itself: when the whole process is saturated (a burst of
thousands of chats on two cores), its tick and the beats queued before it wait in its
own mailbox. Time it could not look is nobody's silence: each tick's lateness is
added to a "blind" total, and an actor's silence counts only the time since its last
beat that the watchdog was not blind. A wedged actor is still caught, just that much
later; a saturated process is not mistaken for a hundred wedged actors.

What to watch is read from the directory on every tick, never remembered from
start-up messages, so a restarted watchdog loses track of nobody: it meets every
actor again on its first tick and gives each a fresh `stale_after` from then.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pykka

from wakeful.messages import ChildStale, HeartbeatBeat, PingDue, PingSent
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor


@dataclass
class _Watched:
    generation: int
    last_beat: float
    last_ping: float
    critical: bool
    stale_after: float
    blind_at_beat: float = 0.0  # the watchdog's blind total when it last heard from it
    reported: bool = False


class Watchdog(SupervisedActor):
    def __init__(self, ctx: ChildContext, tick: float = 1.0) -> None:
        super().__init__(ctx)
        self._tick = tick
        self._seq = itertools.count(1)
        self._watched: dict[str, _Watched] = {}
        self.beats_received = 0
        self.stale_reported = 0
        self._blind = 0.0  # seconds the watchdog was too late to look (see the docstring)
        self._last_lag = 0.0

    def started(self) -> None:
        self._schedule()

    def handle(self, message: Any) -> Any:
        match message:
            case HeartbeatBeat():
                self._on_beat(message)
            case PingDue(due_at=due_at):
                if due_at is not None:
                    self._last_lag = max(0.0, self.ctx.clock.monotonic() - due_at)
                    self._blind += self._last_lag
                self._on_tick()
                self._schedule()
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        clock = self.ctx.clock
        now, wall = clock.monotonic(), clock.wall()
        stale = sorted(name for name, w in self._watched.items() if w.reported)
        return {
            "beats_received": self.beats_received,
            "stale_reported": self.stale_reported,
            "stale": stale,
            "tick_lag": round(self._last_lag, 3),
            "blind_total": round(self._blind, 3),
            # Live (for a health check): no critical actor is known to be wedged.
            "live": not any(self._watched[name].critical for name in stale),
            "watched": {
                name: {
                    "generation": w.generation,
                    "critical": w.critical,
                    "stale_after": w.stale_after,
                    "last_beat_age": round(now - w.last_beat, 3),
                    # Wall time only for the human reading the dump; decisions use monotonic.
                    "last_beat_at": _iso(wall - (now - w.last_beat)),
                }
                for name, w in sorted(self._watched.items())
            },
        }

    def _schedule(self) -> None:
        self.tell_later(self._tick, PingDue(self.ctx.clock.monotonic() + self._tick))

    def _on_beat(self, beat: HeartbeatBeat) -> None:
        watched = self._watched.get(beat.child_id)
        if watched is None or watched.generation != beat.generation:
            return  # from a replaced instance, or one we have not met yet
        self.beats_received += 1
        if beat.at >= watched.last_beat:
            watched.last_beat = beat.at
            watched.blind_at_beat = self._blind

    def _on_tick(self) -> None:
        now = self.ctx.clock.monotonic()
        entries = {e.name: e for e in self.ctx.directory.entries() if e.name != self.ctx.child_id}
        for name in list(self._watched):
            if name not in entries or entries[name].generation != self._watched[name].generation:
                del self._watched[name]
        for name, entry in entries.items():
            watched = self._watched.get(name)
            if watched is None:
                # New (or newly restarted) actor: its silence is counted from now.
                watched = self._watched[name] = _Watched(
                    entry.generation, now, now - entry.heartbeat_interval, entry.critical,
                    entry.stale_after, self._blind)
            silent_for = now - watched.last_beat - (self._blind - watched.blind_at_beat)
            if silent_for > entry.stale_after and not watched.reported and entry.supervisor:
                watched.reported = True
                self.stale_reported += 1
                self.ctx.directory.tell(
                    entry.supervisor, ChildStale(name, entry.generation, silent_for)
                )
            if now - watched.last_ping >= entry.heartbeat_interval:
                watched.last_ping = now
                with contextlib.suppress(pykka.ActorDeadError):
                    entry.ref.tell(PingSent(next(self._seq)))


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")
