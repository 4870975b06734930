"""When restarting stops helping: intensity (N restarts in P seconds) and backoff."""

from __future__ import annotations

import pytest

from tests.supervision.harness import (
    Crash,
    Journal,
    JournaledSupervisor,
    Tree,
    supervisor_spec,
    worker,
)
from wakeful.supervision.backoff import BackoffState
from wakeful.supervision.intensity import RestartWindow
from wakeful.supervision.spec import Backoff, ChildSpec, Intensity, Strategy

# --- the window and the backoff, as plain arithmetic ---------------------------------


def test_one_restart_more_than_allowed_within_the_period_exceeds_the_intensity() -> None:
    window = RestartWindow(Intensity(max_restarts=3, period=10.0))
    assert all(window.record(t) for t in (0.0, 1.0, 3.0))
    assert not window.record(7.0)


def test_as_many_restarts_as_allowed_spread_over_more_than_the_period_never_exceed_it() -> None:
    window = RestartWindow(Intensity(max_restarts=2, period=10.0))
    assert all(window.record(t) for t in (0.0, 6.0, 12.0, 18.0, 24.0, 30.0))


def test_backoff_doubles_from_the_minimum_up_to_the_maximum() -> None:
    state = BackoffState(Backoff(min_delay=0.1, max_delay=1.0, random_factor=0.0,
                                 reset_after=1000.0))
    delays = [state.next_delay(float(t)) for t in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
def test_backoff_jitter_stays_within_the_random_factor(rand: float, factor: float) -> None:
    state = BackoffState(Backoff(min_delay=1.0, max_delay=10.0, random_factor=0.2,
                                 reset_after=100.0), rand=lambda: rand)
    assert state.next_delay(0.0) == pytest.approx(1.0 * factor)


def test_backoff_starts_over_after_a_quiet_period_counted_from_the_restart() -> None:
    policy = Backoff(min_delay=10.0, max_delay=100.0, random_factor=0.0, reset_after=15.0)
    state = BackoffState(policy)
    assert state.next_delay(0.0) == 10.0  # the replacement runs from t=10
    # Failing at t=16 is 16 s after the failure but only 6 s of running: still a loop.
    assert state.next_delay(16.0) == 20.0  # runs from t=36
    assert state.next_delay(51.0) == 10.0  # 15 s of running: back to the minimum


# --- the same rules, enforced by supervisors -----------------------------------------


def _nested(tree, journal: Journal, max_restarts: int, period: float) -> Tree:
    """root -> sub (the supervisor under test) -> w."""
    sub_spec = supervisor_spec(Strategy.ONE_FOR_ONE, max_restarts, period)
    sub = ChildSpec(
        id="sub",
        start=lambda ctx: JournaledSupervisor.start(ctx, sub_spec, [worker("w", journal)],
                                                    journal),
    )
    return tree(supervisor_spec(), [sub])


def _crash(t: Tree, journal: Journal, generation: int) -> None:
    t.tell("w", Crash())
    journal.wait_for("failed", "w", generation)
    t.settle()


def test_n_plus_one_failures_within_the_period_make_the_supervisor_escalate(tree) -> None:
    journal = Journal()
    t = _nested(tree, journal, max_restarts=3, period=10.0)
    # Backoff 1, 2, 4 s: the failures come at t=0, 1, 3 and 7, all within 10 s.
    for generation, delay in ((1, 1.0), (2, 2.0), (3, 4.0)):
        _crash(t, journal, generation)
        t.advance(delay)
        assert t.ask("w")["generation"] == generation + 1
    assert t.children()["sub"]["generation"] == 1, "three restarts are within the limit"

    t.tell("w", Crash())
    journal.wait_for("failed", "sub", 1)  # the fourth: sub gives up and fails itself
    t.settle()
    t.advance(1.0)  # the root restarts sub, which starts a fresh w

    assert t.children()["sub"]["generation"] == 2
    assert t.ask("w")["generation"] == 5
    assert not t.gave_up.is_set(), "the root still had room: escalation stopped there"


def test_n_failures_spread_over_more_than_the_period_do_not_escalate(tree) -> None:
    journal = Journal()
    t = _nested(tree, journal, max_restarts=2, period=10.0)
    for generation in (1, 2, 3, 4):
        _crash(t, journal, generation)
        t.advance(8.0, step=0.5)  # past the backoff (1, 2, 4, 8 s); 2 failures per 10 s
        assert t.ask("w")["generation"] == generation + 1
    assert t.children()["sub"]["generation"] == 1
    assert ("failed", "sub", 1) not in journal.events()


def test_when_the_root_gives_up_every_child_is_stopped_and_the_owner_told_why(tree) -> None:
    journal = Journal()
    t = tree(supervisor_spec(max_restarts=1, period=10.0),
             [worker("a", journal), worker("b", journal)])
    t.tell("b", Crash())
    journal.wait_for("failed", "b", 1)
    t.settle()
    t.advance(1.0)
    t.tell("b", Crash())
    assert t.gave_up.wait(10)
    assert "b keeps failing" in (t.give_up_reason or "")
    assert "restart intensity 1 in 10s exceeded" in (t.give_up_reason or "")
    journal.wait_for("exited", "a", 1)
    assert not t.root.is_alive()
