"""Which children come back when one fails, and in what order (OTP's strategies)."""

from __future__ import annotations

import pytest

from tests.supervision.harness import Crash, Journal, supervisor_spec, worker
from wakeful.supervision.spec import Strategy


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        # Only the failed child.
        (Strategy.ONE_FOR_ONE, [("created", "b", 2)]),
        # Everyone: the others stop last-started first, then all start in order.
        (Strategy.ONE_FOR_ALL, [("exited", "c", 1), ("exited", "a", 1),
                                ("created", "a", 2), ("created", "b", 2), ("created", "c", 2)]),
        # The failed child and those started after it (they may depend on it).
        (Strategy.REST_FOR_ONE, [("exited", "c", 1), ("created", "b", 2), ("created", "c", 2)]),
    ],
)
def test_a_failing_child_restarts_exactly_the_children_its_strategy_names_in_order(
    tree, strategy: Strategy, expected: list[tuple[str, str, int]]
) -> None:
    journal = Journal()
    t = tree(supervisor_spec(strategy), [worker(n, journal) for n in "abc"])
    assert journal.events("created") == [("created", n, 1) for n in "abc"]
    mark = journal.mark()

    t.tell("b", Crash())
    journal.wait_for("failed", "b", 1)
    t.settle()  # the root has handled the failure: the others are stopped by now
    t.advance(1.0)  # the backoff delay

    assert journal.since(mark, "exited", "created") == expected
    generations = {cid: c["generation"] for cid, c in t.children().items()}
    restarted = {cid for kind, cid, _ in expected if kind == "created"}
    for cid in "abc":
        assert (generations[cid] > 1) == (cid in restarted), generations
        assert t.ask(cid)["generation"] == generations[cid]  # reachable under its name
