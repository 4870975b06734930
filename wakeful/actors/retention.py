"""Retention: keeps the journal from growing without bound.

Finished messages (and their delivered answers) older than `retain_days` are deleted
in small batches, one transaction each, so the journal's single writer is never held
for long; refusal times older than one refusal window are forgotten; the WAL is folded
back into the file. Runs once shortly after start, then every `every` seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from wakeful.messages import RetentionDue
from wakeful.state.journal import Journal
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor

log = logging.getLogger(__name__)

BATCH = 500
FIRST_AFTER = 30.0
EVERY = 600.0


class Retention(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext,
        journal: Journal,
        retain_days: float,
        refusal_every: float,
        every: float = EVERY,
        first_after: float = FIRST_AFTER,
    ) -> None:
        super().__init__(ctx)
        self._journal = journal
        self._retain = retain_days * 86_400
        self._refusal_every = refusal_every
        self._every = every
        self._first_after = first_after
        self.pruned = 0
        self.runs = 0

    def started(self) -> None:
        self.tell_later(self._first_after, RetentionDue())

    def handle(self, message: Any) -> Any:
        match message:
            case RetentionDue():
                self._prune()
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"runs": self.runs, "pruned": self.pruned,
                "journal_bytes": self._journal.size_bytes()}

    def _prune(self) -> None:
        now = self.ctx.clock.wall()
        gone = self._journal.prune(now - self._retain, BATCH)
        self.pruned += gone
        if gone == BATCH:
            # More to go: come back at once, but through the mailbox, so pings and the
            # other actors' journal calls get their turn in between.
            self.actor_ref.tell(RetentionDue())
            return
        self._journal.prune_refusals(now - self._refusal_every)
        self._journal.checkpoint()
        self.runs += 1
        if self.pruned:
            log.info("journal retention: %d finished messages deleted so far", self.pruned)
        self.tell_later(self._every, RetentionDue())
