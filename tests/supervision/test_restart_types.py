"""Whether a child comes back after it stops or fails (OTP's permanent/transient/temporary)."""

from __future__ import annotations

import pytest

from tests.supervision.harness import (
    Crash,
    Explode,
    Journal,
    Poke,
    Quit,
    supervisor_spec,
    worker,
)
from wakeful.supervision.spec import Restart, Strategy


@pytest.mark.parametrize(
    ("restart", "how", "comes_back"),
    [
        (Restart.PERMANENT, "stops normally", True),
        (Restart.PERMANENT, "fails", True),
        (Restart.TRANSIENT, "stops normally", False),
        (Restart.TRANSIENT, "fails", True),
        (Restart.TEMPORARY, "stops normally", False),
        (Restart.TEMPORARY, "fails", False),
    ],
)
def test_a_child_comes_back_according_to_its_restart_type(
    tree, restart: Restart, how: str, comes_back: bool
) -> None:
    journal = Journal()
    t = tree(supervisor_spec(), [worker("w", journal, restart=restart),
                                 worker("sibling", journal)])
    if how == "fails":
        t.tell("w", Crash())
        journal.wait_for("failed", "w", 1)
    else:
        t.tell("w", Quit())
        journal.wait_for("exited", "w", 1)
    t.settle()
    t.advance(1.0)

    children = t.children()
    if comes_back:
        assert children["w"]["generation"] == 2
        t.tell("w", Poke("still here"))
        t.settle()
        assert ("poked", "w", 2, "still here") in journal.events()
    else:
        assert "w" not in children, "a child that is not restarted is forgotten"
        assert t.directory.lookup("w") is None
    assert children["sibling"]["generation"] == 1, "one_for_one leaves siblings alone"


def test_a_temporary_child_stays_down_when_a_sibling_takes_the_group_with_it(tree) -> None:
    journal = Journal()
    t = tree(supervisor_spec(Strategy.ONE_FOR_ALL),
             [worker("temp", journal, restart=Restart.TEMPORARY), worker("perm", journal)])
    t.tell("perm", Crash())
    journal.wait_for("failed", "perm", 1)
    t.settle()
    t.advance(1.0)
    assert ("exited", "temp", 1) in journal.events()
    assert set(t.children()) == {"perm"}
    assert t.children()["perm"]["generation"] == 2


def test_a_child_whose_start_fails_is_reported_and_started_again(tree) -> None:
    journal = Journal()
    t = tree(supervisor_spec(), [worker("w", journal, failing_starts=1)])
    journal.wait_for("start_failed", "w", 1)
    t.settle()
    t.advance(1.0)
    assert t.ask("w")["generation"] == 2
    assert t.children()["w"]["restarts"] == 1


def test_a_base_exception_in_one_actor_takes_down_only_that_actor(tree) -> None:
    journal = Journal()
    t = tree(supervisor_spec(), [worker("a", journal), worker("b", journal)])
    t.tell("a", Explode())  # SystemExit: pykka alone would stop every actor
    journal.wait_for("failed", "a", 1)
    t.tell("b", Poke("unaffected"))
    t.settle()
    assert ("poked", "b", 1, "unaffected") in journal.events()
    t.advance(1.0)
    assert t.children()["a"]["generation"] == 2


def test_a_child_stopped_by_someone_else_counts_as_an_unexpected_stop(tree) -> None:
    journal = Journal()
    t = tree(supervisor_spec(), [worker("w", journal)])
    t.ref("w").stop(block=True)
    journal.wait_for("exited", "w", 1)
    t.settle()
    t.advance(1.0)
    assert t.children()["w"]["generation"] == 2
