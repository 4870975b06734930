"""A (re)started actor is reachable by its name before it says its first word.

A replaced chat actor asks the brain pool for its running turn again as it starts; the
pool answers by name. If the supervisor registered the new instance only once `start`
returned, an answer that came first was dropped (seen in CI: an approval question never
asked again, so the brain waited for an answer nobody could give).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tests.supervision.harness import HANG_GUARD, Crash, Journal, supervisor_spec
from wakeful.supervision.context import ChildContext
from wakeful.supervision.spec import ChildSpec
from wakeful.supervision.supervised import SupervisedActor


@dataclass(frozen=True)
class Hello:
    reply_to: str


@dataclass(frozen=True)
class Welcome:
    pass


class Responder(SupervisedActor):
    """Answers every Hello by name, then lets the test know it did."""

    def __init__(self, ctx: ChildContext, replied: threading.Event) -> None:
        super().__init__(ctx)
        self._replied = replied

    def handle(self, message: Any) -> Any:
        match message:
            case Hello(reply_to=name):
                self.ctx.directory.tell(name, Welcome())
                self._replied.set()
            case _:
                return super().handle(message)
        return None


class Greeter(SupervisedActor):
    """Says Hello as it starts, like a chat actor asking for its turn again."""

    def __init__(self, ctx: ChildContext, journal: Journal) -> None:
        super().__init__(ctx)
        self._journal = journal

    def started(self) -> None:
        self.ctx.directory.tell("responder", Hello(self.ctx.child_id))

    def handle(self, message: Any) -> Any:
        match message:
            case Welcome():
                self._journal.add("welcomed", self.ctx.generation)
            case Crash():
                raise RuntimeError("crashed on purpose")
            case _:
                return super().handle(message)
        return None


def test_an_answer_to_what_an_actor_says_at_start_reaches_it_however_slow_its_supervisor(
    tree,
) -> None:
    journal = Journal()
    replied = threading.Event()

    def slow_start(ctx: ChildContext) -> Any:
        # The supervisor's thread is descheduled right after `start`: the answer to the
        # Hello is out before `start` has even returned.
        replied.clear()
        ref = Greeter.start(ctx, journal)
        assert replied.wait(HANG_GUARD), "the responder never answered"
        return ref

    t = tree(supervisor_spec(), [
        ChildSpec(id="responder", start=lambda ctx: Responder.start(ctx, replied)),
        ChildSpec(id="greeter", start=slow_start),
    ])
    journal.wait_for("welcomed", 1)

    t.tell("greeter", Crash())  # and its replacement says Hello again
    # The restart comes 1 s (steady backoff) after the supervisor hears of the crash,
    # which may be after this advance began: advance well past it, stop once welcomed.
    t.advance(5.0, until=lambda: ("welcomed", 2) in journal.events())
    journal.wait_for("welcomed", 2)
