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

A saturated process also starves the actors themselves: with thousands of chat threads
runnable on two cores, any one of them may not run for longer than `stale_after`, and
replacing it only adds threads (and, for the chats supervisor, retires every chat). So
when `saturated_at` or more actors are overdue at once *and* the process has been
burning CPU (at least `busy_share` of a core over the last `stale_after`), nobody is
reported: the silence is the process's, and each overdue actor's count starts again. A
wedge does not burn CPU, so many actors stuck at once on an idle process (a deadlock)
are still reported; a wedged actor hidden in a saturated crowd is reported once the
crowd has caught up, `stale_after` after the last hold.

What to watch is read from the directory on every tick, never remembered from
start-up messages, so a restarted watchdog loses track of nobody: it meets every
actor again on its first tick and gives each a fresh `stale_after` from then.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pykka

from wakeful.messages import ChildStale, HeartbeatBeat, PingDue, PingSent
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Entry
from wakeful.supervision.supervised import SupervisedActor

log = logging.getLogger(__name__)


@dataclass
class _Watched:
    generation: int
    last_beat: float
    last_ping: float
    critical: bool
    stale_after: float
    blind_at_beat: float = 0.0  # the watchdog's blind total when it last heard from it
    reported: bool = False
    # Where its silence is counted from: its last beat, or a later saturation hold.
    counted_from: float = 0.0
    blind_at_count: float = 0.0


class Watchdog(SupervisedActor):
    def __init__(self, ctx: ChildContext, tick: float = 1.0, saturated_at: int = 8,
                 busy_share: float = 0.5,
                 cpu_seconds: Callable[[], float] = time.process_time) -> None:
        super().__init__(ctx)
        self._tick = tick
        self._saturated_at = saturated_at
        self._busy_share = busy_share
        self._cpu_seconds = cpu_seconds
        self._cpu_marks: deque[tuple[float, float]] = deque()
        self.saturation_holds = 0  # ticks on which overdue actors were not reported
        self._saturated_since: float | None = None
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
            "saturated": self._saturated_since is not None,
            "saturation_holds": self.saturation_holds,
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
            if beat.at >= watched.counted_from:
                watched.counted_from, watched.blind_at_count = beat.at, self._blind

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
                    entry.stale_after, self._blind, counted_from=now,
                    blind_at_count=self._blind)
        self._judge(now, entries)
        for name, entry in entries.items():
            watched = self._watched[name]
            if now - watched.last_ping >= entry.heartbeat_interval:
                watched.last_ping = now
                with contextlib.suppress(pykka.ActorDeadError):
                    entry.ref.tell(PingSent(next(self._seq)))

    def _judge(self, now: float, entries: dict[str, Entry]) -> None:
        overdue = [name for name, w in self._watched.items()
                   if not w.reported and entries[name].supervisor
                   and self._silence(now, w) > w.stale_after]
        busy = self._busy(now)
        if len(overdue) >= self._saturated_at and busy >= self._busy_share:
            self.saturation_holds += 1
            if self._saturated_since is None:
                self._saturated_since = now
                log.warning("%d actors overdue at once while the process burns %.0f%% of a "
                            "core: saturated, not wedged; replacing none of them until it "
                            "catches up", len(overdue), busy * 100)
            for name in overdue:
                watched = self._watched[name]
                watched.counted_from, watched.blind_at_count = now, self._blind
            return
        if self._saturated_since is not None:
            log.warning("caught up after %.1fs saturated (%d overdue now)",
                        now - self._saturated_since, len(overdue))
            self._saturated_since = None
        for name in overdue:
            watched, entry = self._watched[name], entries[name]
            silent_for = now - watched.counted_from - (self._blind - watched.blind_at_count)
            if silent_for > watched.stale_after and entry.supervisor:
                watched.reported = True
                self.stale_reported += 1
                self.ctx.directory.tell(entry.supervisor, ChildStale(
                    name, entry.generation, self._silence(now, watched)))

    def _silence(self, now: float, watched: _Watched) -> float:
        """Since its last beat, less the time the watchdog itself could not look."""
        return now - watched.last_beat - (self._blind - watched.blind_at_beat)

    def _busy(self, now: float) -> float:
        """The process's CPU use, in cores, over about the longest `stale_after` watched."""
        window = max((w.stale_after for w in self._watched.values()), default=self._tick)
        self._cpu_marks.append((now, self._cpu_seconds()))
        while len(self._cpu_marks) > 2 and self._cpu_marks[1][0] <= now - window:
            self._cpu_marks.popleft()
        (then, cpu_then), (_, cpu_now) = self._cpu_marks[0], self._cpu_marks[-1]
        return (cpu_now - cpu_then) / (now - then) if now > then else 0.0


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")
