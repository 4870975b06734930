"""A supervisor remembers each child's last failure, for `wakeful state` to show."""

from __future__ import annotations

from tests.supervision.harness import Crash, Journal, Tree, supervisor_spec, worker
from wakeful.control.document import build


def test_the_last_failure_is_kept_with_its_time_and_the_child_shows_restart_pending() -> None:
    journal = Journal()
    tree = Tree(supervisor_spec(), [worker("w", journal), worker("sibling", journal)])
    try:
        failed_at = tree.clock.wall()
        tree.tell("w", Crash())
        journal.wait_for("failed", "w", 1)
        tree.settle()
        record = tree.children()["w"]
        assert record["restart_pending"] is True
        assert record["last_failure"]["at"] == failed_at
        assert record["last_failure"]["reason"] == "RuntimeError('crashed on purpose')"
        # What `wakeful state` makes of it while the backoff runs (1 s, on the fake clock):
        raw = {"actors": {"root": {**tree.ask("root"), "supervisor": None, "mailbox": 0}}}
        waiting = {a["name"]: a for a in build(raw)["actors"]}["w"]
        assert waiting["status"] == "restart pending" and waiting["supervisor"] == "root"
        assert waiting["last_failure"]["reason"] == record["last_failure"]["reason"]

        tree.advance(1.0)
        record = tree.children()["w"]
        assert (record["restarts"], record["restart_pending"]) == (1, False)
        assert record["last_failure"]["at"] == failed_at, "kept after the restart"
        assert tree.children()["sibling"]["last_failure"] is None
    finally:
        tree.stop()
