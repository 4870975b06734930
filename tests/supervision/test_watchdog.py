"""The watchdog on an injected clock: who is stale, how soon, and what happens next."""

from __future__ import annotations

from tests.supervision.harness import (
    Hang,
    Journal,
    Poke,
    Tree,
    supervisor_spec,
    worker,
)
from wakeful.actors.watchdog import Watchdog
from wakeful.clock import FakeClock
from wakeful.supervision.spec import ChildSpec

INTERVAL = 1.0
STALE_AFTER = 1.5
TICK = 0.1


def _watched_tree(tree, journal: Journal, **kwargs) -> Tree:
    beat = {"heartbeat_interval": INTERVAL, "stale_after": STALE_AFTER}
    return tree(supervisor_spec(), [
        worker("w", journal, **beat),
        worker("other", journal, **beat),
        ChildSpec(id="watchdog", start=lambda ctx: Watchdog.start(ctx, tick=TICK), **beat),
    ], **kwargs)


def _replaced(t: Tree, name: str = "w") -> bool:
    child = t.children().get(name)
    return child is None or child["generation"] != 1


def _wedge(t: Tree, name: str = "w") -> tuple[Hang, float]:
    hang = Hang()
    t.tell(name, hang)
    assert hang.entered.wait(10)
    return hang, t.clock.monotonic()


def test_actors_that_answer_their_pings_are_never_reported(tree) -> None:
    t = _watched_tree(tree, Journal())
    t.advance(10 * INTERVAL, step=TICK)
    dog = t.ask("watchdog")
    assert dog["stale_reported"] == 0
    assert dog["live"] is True
    assert dog["beats_received"] >= 2 * 9  # two workers, about one beat per interval each
    assert {c["generation"] for c in t.children().values()} == {1}


def test_a_wedged_actor_is_replaced_within_two_heartbeat_intervals(tree) -> None:
    journal = Journal()
    t = _watched_tree(tree, journal)
    t.advance(3 * INTERVAL, step=TICK)  # a few healthy beats first
    hang, wedged_at = _wedge(t)

    assert t.advance(5 * INTERVAL, step=TICK, skip={"w"}, until=lambda: _replaced(t))
    assert t.clock.monotonic() - wedged_at <= 2 * INTERVAL
    assert t.ask("watchdog")["stale_reported"] == 1
    assert t.directory.lookup("w") is None, "no new message reaches the wedged instance"
    assert t.children()["other"]["generation"] == 1, "its sibling was healthy"

    t.advance(1.0, step=TICK)  # the backoff delay: the replacement starts
    assert t.ask("w")["generation"] > 1
    assert t.abandoned.summary()["alive"] == 1

    old = t.abandoned.alive()[0].ref
    old.tell(Poke("from the past"))  # queued behind the hang, like any late message
    hang.released.set()
    assert old.actor_stopped.wait(10), "once unwedged, the old instance stops by itself"
    t.settle()
    assert not [e for e in journal.events("poked") if e[2] == 1], "the fenced one stayed quiet"
    assert t.abandoned.summary() == {"alive": 0, "total": 1, "limit": None, "threads": []}
    t.advance(3 * INTERVAL, step=TICK)
    assert t.ask("watchdog")["stale_reported"] == 1, "the replacement is healthy"


def test_an_actor_working_through_a_backlog_is_busy_not_wedged(tree) -> None:
    """Its pings wait behind 6 s of work (four times stale_after), but it finishes a
    message every 0.3 s: it beats on its own and is never replaced. (A handler that does
    not return within stale_after is still a wedge: the test above.)"""
    journal = Journal()
    t = _watched_tree(tree, journal)
    t.advance(2 * INTERVAL, step=TICK)
    backlog = [Hang() for _ in range(20)]
    for work in backlog:
        t.tell("w", work)
    t.tell("w", Poke("done"))
    for work in backlog:
        assert work.entered.wait(10)
        t.advance(0.3, step=TICK, skip={"w"})  # each message takes 0.3 s
        work.released.set()
    journal.wait_for("poked", "w", 1, "done")
    t.settle()
    dog = t.ask("watchdog")
    assert dog["stale_reported"] == 0, dog["stale"]
    assert t.children()["w"]["generation"] == 1


def test_time_the_watchdog_itself_was_late_is_nobodys_silence(tree) -> None:
    """The whole process stalls for 6 s (four times stale_after): no tick, no ping, no
    beat handled. Nobody was wedged, and nobody is reported; a real wedge afterwards
    still is."""
    t = _watched_tree(tree, Journal())
    t.advance(2 * INTERVAL, step=TICK)
    t.clock.advance(6.0)  # in one jump: the watchdog reads its tick 6 s late
    t.settle()
    t.advance(3 * INTERVAL, step=TICK)
    dog = t.ask("watchdog")
    assert dog["stale_reported"] == 0, dog["stale"]
    assert dog["blind_total"] >= 5.5
    hang, wedged_at = _wedge(t)
    assert t.advance(5 * INTERVAL, step=TICK, skip={"w"}, until=lambda: _replaced(t))
    assert t.clock.monotonic() - wedged_at <= 2 * INTERVAL
    hang.released.set()


def test_a_restarted_watchdog_keeps_watching_everyone(tree) -> None:
    t = _watched_tree(tree, Journal())
    t.tell("watchdog", object())  # a message it cannot handle: a bug, so it crashes
    assert t.advance(5.0, step=TICK, until=lambda: t.children()["watchdog"]["generation"] > 1)
    t.advance(2 * INTERVAL, step=TICK)
    assert set(t.ask("watchdog")["watched"]) == {"root", "w", "other"}

    hang, wedged_at = _wedge(t)
    assert t.advance(5 * INTERVAL, step=TICK, skip={"w"}, until=lambda: _replaced(t))
    assert t.clock.monotonic() - wedged_at <= 2 * INTERVAL
    hang.released.set()


def test_past_the_abandoned_thread_limit_the_root_gives_up(tree) -> None:
    t = _watched_tree(tree, Journal(), abandoned_limit=1)
    first, _ = _wedge(t)
    assert t.advance(5 * INTERVAL, step=TICK, skip={"w"}, until=lambda: _replaced(t))
    t.advance(1.0, step=TICK)
    assert not t.gave_up.is_set(), "one abandoned thread is within the limit"

    second, _ = _wedge(t, "other")
    t.advance(5 * INTERVAL, step=TICK, skip={"other"}, until=t.gave_up.is_set)
    assert t.gave_up.wait(10)
    assert "2 wedged threads abandoned (limit 1)" in (t.give_up_reason or "")
    first.released.set()
    second.released.set()


def test_threads_that_were_only_slow_finish_within_the_grace_and_nothing_gives_up(tree) -> None:
    t = _watched_tree(tree, Journal(), abandoned_limit=1, abandoned_grace=3.0)
    first, _ = _wedge(t)
    assert t.advance(5 * INTERVAL, step=TICK, skip={"w"}, until=lambda: _replaced(t))
    second, _ = _wedge(t, "other")
    assert t.advance(5 * INTERVAL, step=TICK, skip={"other"},
                     until=lambda: _replaced(t, "other"))
    assert t.abandoned.summary()["alive"] == 2  # over the limit: the grace starts
    first.released.set()  # both were only slow: they reach their mailbox and exit
    second.released.set()
    for slow in t.abandoned.alive():
        assert slow.ref.actor_stopped.wait(10)
    t.advance(4.0, step=TICK)
    assert not t.gave_up.is_set(), t.give_up_reason
    assert t.abandoned.summary()["alive"] == 0


class Cpu:
    """The process's CPU time as the watchdog reads it: `share` of a core, in the
    tree's fake time (a saturated process burns about one core under the GIL)."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._total = 0.0
        self._at: float | None = None

    def read(self, clock: FakeClock) -> float:
        now = clock.monotonic()
        if self._at is not None:
            self._total += (now - self._at) * self.share
        self._at = now
        return self._total


CROWD = [f"c{i}" for i in range(9)]  # more than the watchdog's saturated_at (8)


def _crowd_tree(tree, cpu: Cpu) -> Tree:
    beat = {"heartbeat_interval": INTERVAL, "stale_after": STALE_AFTER}
    journal = Journal()
    return tree(supervisor_spec(), [
        *(worker(name, journal, **beat) for name in [*CROWD, "calm"]),
        ChildSpec(id="watchdog", start=lambda ctx: Watchdog.start(
            ctx, tick=TICK, cpu_seconds=lambda: cpu.read(ctx.clock)), **beat),
    ])


def test_a_crowd_overdue_at_once_on_a_busy_process_is_saturation_not_wedges(tree) -> None:
    """Nine actors do not run for four times stale_after while the process burns most
    of a core: a burst starving every thread. Replacing them would only add threads;
    nobody is replaced, and once they run again the watchdog says it caught up."""
    cpu = Cpu(share=0.9)
    t = _crowd_tree(tree, cpu)
    t.advance(2 * INTERVAL, step=TICK)
    hangs = [_wedge(t, name)[0] for name in CROWD]
    t.advance(4 * STALE_AFTER, step=TICK, skip=CROWD)
    dog = t.ask("watchdog")
    assert dog["stale_reported"] == 0, dog["stale"]
    assert dog["saturated"] is True and dog["saturation_holds"] > 0
    for hang in hangs:
        hang.released.set()
    t.advance(2 * INTERVAL, step=TICK)
    dog = t.ask("watchdog")
    assert (dog["stale_reported"], dog["saturated"]) == (0, False)
    assert {c["generation"] for c in t.children().values()} == {1}


def test_a_wedge_hidden_in_a_saturated_crowd_is_replaced_once_the_crowd_catches_up(
    tree,
) -> None:
    cpu = Cpu(share=0.9)
    t = _crowd_tree(tree, cpu)
    t.advance(2 * INTERVAL, step=TICK)
    hangs = {name: _wedge(t, name)[0] for name in CROWD}
    t.advance(4 * STALE_AFTER, step=TICK, skip=CROWD)
    assert t.ask("watchdog")["stale_reported"] == 0
    for name in CROWD[1:]:  # the crowd runs again; c0 stays stuck
        hangs[name].released.set()
    caught_up = t.clock.monotonic()
    assert t.advance(5 * INTERVAL, step=TICK, skip={"c0"}, until=lambda: _replaced(t, "c0"))
    assert t.clock.monotonic() - caught_up <= STALE_AFTER + 2 * INTERVAL
    assert t.ask("watchdog")["stale_reported"] == 1
    assert all(t.children()[name]["generation"] == 1 for name in [*CROWD[1:], "calm"])
    hangs["c0"].released.set()


def test_a_crowd_stuck_at_once_on_an_idle_process_is_a_deadlock_and_is_replaced(tree) -> None:
    """The same nine silent actors, but the process burns no CPU: they are not
    starved, they are stuck (a shared lock, say). Every one is reported."""
    cpu = Cpu(share=0.02)
    t = _crowd_tree(tree, cpu)
    t.advance(2 * INTERVAL, step=TICK)
    hangs = [_wedge(t, name)[0] for name in CROWD]
    assert t.advance(5 * INTERVAL, step=TICK, skip=CROWD,
                     until=lambda: all(_replaced(t, name) for name in CROWD))
    dog = t.ask("watchdog")
    assert dog["stale_reported"] == len(CROWD) and dog["saturation_holds"] == 0
    assert t.children()["calm"]["generation"] == 1
    for hang in hangs:
        hang.released.set()
