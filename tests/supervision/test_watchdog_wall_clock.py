"""The watchdog on the production SystemClock, under freezegun: wall-clock dumps.

freezegun traps this test steps around, on purpose:

* pykka's `ask(timeout=...)` computes its deadline from time.monotonic; frozen, a
  missing answer would be waited for forever. `pykka._threading` (where the future
  waits) is therefore ignored, i.e. sees real time.
* Ignoring all of `pykka` instead would be wrong: freezegun decides per call by
  looking a few frames up the caller's stack, and every actor handler runs a few
  frames below `pykka._actor`, so our actors would see real time at some call
  depths and frozen time at others.
* For the same reason the SystemClock's timer thread (which runs right under
  `threading`, on freezegun's default ignore list) sees real time: timers set in
  frozen time never fire. The test drives the watchdog's ticks itself.
"""

from __future__ import annotations

from freezegun import freeze_time

from tests.supervision.harness import HANG_GUARD, Hang, Journal, Tree, supervisor_spec, worker
from wakeful.actors.watchdog import Watchdog
from wakeful.clock import SystemClock
from wakeful.messages import PingDue
from wakeful.supervision.spec import ChildSpec


def _tick(t: Tree, wedged: tuple[str, ...] = ()) -> None:
    """One watchdog round, then a barrier for the pings and the heartbeats they earn."""
    t.ref("watchdog").ask(PingDue(), timeout=HANG_GUARD)
    t.settle(skip=wedged)


def test_the_state_dump_shows_when_each_actor_last_answered_in_wall_clock_time(tree) -> None:
    beat = {"heartbeat_interval": 1.0, "stale_after": 1.5}
    with freeze_time("2024-05-01 12:00:00", ignore=["pykka._threading"]) as frozen:
        clock = SystemClock()
        # A tick far longer than the test: the watchdog only looks when we say so.
        t = tree(supervisor_spec(), [
            worker("w", Journal(), **beat),
            ChildSpec(id="watchdog", start=lambda ctx: Watchdog.start(ctx, tick=3600.0),
                      **beat),
        ], clock=clock)
        _tick(t)  # first sight: w is pinged and answers at 12:00:00
        frozen.tick(1.0)
        _tick(t)  # 12:00:01: pinged again, answers again

        dog = t.ask("watchdog")
        assert dog["watched"]["w"]["last_beat_at"] == "2024-05-01T12:00:01.000+00:00"
        assert dog["watched"]["w"]["last_beat_age"] == 0.0

        hang = Hang()
        t.tell("w", hang)
        assert hang.entered.wait(10)
        frozen.tick(1.0)
        _tick(t, wedged=("w",))  # 12:00:02: 1 s of silence is within the threshold
        dog = t.ask("watchdog")
        assert dog["watched"]["w"]["last_beat_age"] == 1.0
        assert dog["stale_reported"] == 0

        frozen.tick(1.0)
        _tick(t, wedged=("w",))  # 12:00:03: 2 s of silence is past it
        dog = t.ask("watchdog")
        assert dog["stale"] == ["w"]
        assert dog["watched"]["w"]["last_beat_at"] == "2024-05-01T12:00:01.000+00:00"
        assert dog["live"] is False, "a critical actor is wedged until its replacement runs"
        assert t.children()["w"]["restart_pending"], "the root is replacing it"
        hang.released.set()
        clock.close()
