"""The brain pool's side of follow-ups: TurnFollowUp in; FollowUpTaken / FollowUpRefused
and TurnFinished.also out; the journal closes every message a turn answered.

The pool runs as in the service (its own actor, a real journal, real turn children
around the stand-in brain); a stub stands in for the chat and keeps what it is told.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
import pytest

from tests.brain.turns import wait_until
from wakeful.actors.brain_pool import BrainPool
from wakeful.actors.names import chat_address
from wakeful.brain import standin
from wakeful.brain.config import BrainConfig
from wakeful.clock import SystemClock
from wakeful.messages import (
    FollowUpRefused,
    FollowUpTaken,
    IncomingMessage,
    TurnFinished,
    TurnFollowUp,
    TurnRequested,
    TurnStarted,
)
from wakeful.state.journal import Journal
from wakeful.state.records import AnswerKind, MessageState
from wakeful.supervision.context import ChildContext
from wakeful.supervision.directory import Directory, Entry

pytestmark = pytest.mark.timeout(60)
CHAT = 710_001
OTHER = 710_002


class ChatStub(pykka.ThreadingActor):
    def __init__(self, got: list[Any]) -> None:
        super().__init__()
        self.got = got

    def on_receive(self, message: Any) -> None:
        self.got.append(message)


@dataclass
class Pool:
    ref: pykka.ActorRef[Any]
    journal: Journal
    told: dict[int, list[Any]]
    prompts: Path
    next_update: Iterator[int]

    def ask_turn(self, chat: int, text: str, turn_id: str) -> int:
        """A message of `chat` as the journal has it, and the pool asked to answer it."""
        update_id = self.message(chat, text)
        self.ref.tell(TurnRequested(chat, turn_id, update_id, text))
        return update_id

    def message(self, chat: int, text: str) -> int:
        update_id = next(self.next_update)
        self.journal.accept_batch([IncomingMessage(update_id, chat, update_id, chat, text,
                                                   time.monotonic())], update_id + 1)
        return update_id

    def wait(self, chat: int, kind: type, count: int = 1) -> list[Any]:
        def found() -> list[Any]:
            got = [m for m in list(self.told[chat]) if isinstance(m, kind)]
            return got if len(got) >= count else []
        result: list[Any] = wait_until(found, f"{count} {kind.__name__} for {chat}", 30)
        return result

    def received(self) -> list[dict[str, Any]]:
        if not self.prompts.exists():
            return []
        return [json.loads(line) for line in self.prompts.read_text().splitlines()]


@contextmanager
def running_pool(tmp_path: Path, delay: float = 1.5, **brain: Any) -> Iterator[Pool]:
    directory = Directory()
    clock = SystemClock()
    journal = Journal(str(tmp_path / "journal.sqlite3"))
    prompts = tmp_path / "prompts.jsonl"
    config = BrainConfig(
        command=standin.command(delay), env_passthrough=("PATH",),
        env={"WAKEFUL_STANDIN_PROMPTS": str(prompts),
             "WAKEFUL_STANDIN_ONCE": str(tmp_path / "once")},
        **{"first_event_timeout": 15, "idle_timeout": 15, "turn_budget": 30,
           "result_grace": 1.0, "kill_grace": 1.0, "retry_initial_delay": 0.1,
           "retry_max_delay": 0.2, **brain})
    told: dict[int, list[Any]] = {}
    refs: list[pykka.ActorRef[Any]] = []
    for chat in (CHAT, OTHER):
        told[chat] = []
        ref = ChatStub.start(told[chat])
        refs.append(ref)
        directory.register(Entry(chat_address(chat), 1, ref, None, 5.0, 10.0, False))
    generation = directory.next_generation("brain_pool")
    ctx = ChildContext("brain_pool", generation, None, directory, clock)
    pool = BrainPool.start(ctx, config, journal)
    directory.register(Entry("brain_pool", generation, pool, None, 5.0, 10.0, False))
    refs.append(pool)
    try:
        yield Pool(pool, journal, told, prompts, iter(range(1, 1000)))
    finally:
        for ref in reversed(refs):
            ref.stop(timeout=10)
        clock.close()
        journal.close()


def _answered_by(journal: Journal, update_id: int) -> None:
    assert journal.state_of(update_id) is MessageState.ANSWERED
    stored = journal.stored_answer(update_id)
    assert stored is not None and stored.kind is AnswerKind.NONE
    assert journal.owed(CHAT).count(update_id) == 0


def test_a_follow_up_is_taken_into_the_running_turn_and_closed_with_its_answer(
    tmp_path: Path,
) -> None:
    with running_pool(tmp_path) as pool:
        first = pool.ask_turn(CHAT, "first", "t1")
        pool.wait(CHAT, TurnStarted)
        second = pool.message(CHAT, "second")
        pool.ref.tell(TurnFollowUp(CHAT, "t1", second, "second", False))
        assert pool.wait(CHAT, FollowUpTaken) == [FollowUpTaken(CHAT, "t1", second)]
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.update_id == first and finished.also == (second,)
        assert finished.answer.kind is AnswerKind.ANSWER
        assert finished.answer.text == "echo: first + second"
        assert pool.journal.state_of(first) is MessageState.ANSWERED
        _answered_by(pool.journal, second)
        assert len({r["pid"] for r in pool.received()}) == 1


def test_an_interrupting_follow_up_answers_both_messages_and_is_no_failure(
    tmp_path: Path,
) -> None:
    with running_pool(tmp_path) as pool:
        first = pool.ask_turn(CHAT, "first [[hang]]", "t1")
        pool.wait(CHAT, TurnStarted)
        second = pool.message(CHAT, "stop that, do this")
        pool.ref.tell(TurnFollowUp(CHAT, "t1", second, "stop that, do this", True))
        pool.wait(CHAT, FollowUpTaken)
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.answer.kind is AnswerKind.ANSWER
        assert finished.answer.text == "echo: stop that, do this"
        assert finished.also == (second,)
        assert pool.journal.state_of(first) is MessageState.ANSWERED
        _answered_by(pool.journal, second)


def test_follow_ups_without_a_running_brain_are_refused(tmp_path: Path) -> None:
    with running_pool(tmp_path, max_concurrent=1) as pool:
        pool.ask_turn(OTHER, "taking the only slot", "busy")
        pool.wait(OTHER, TurnStarted)
        pool.ask_turn(CHAT, "waiting in line", "t1")
        waiting = pool.message(CHAT, "for the waiting turn")
        pool.ref.tell(TurnFollowUp(CHAT, "t1", waiting, "for the waiting turn", False))
        unknown = pool.message(CHAT, "for no turn at all")
        pool.ref.tell(TurnFollowUp(CHAT, "nope", unknown, "for no turn at all", False))
        refused = pool.wait(CHAT, FollowUpRefused, 2)
        assert refused == [FollowUpRefused(CHAT, "t1", waiting),
                           FollowUpRefused(CHAT, "nope", unknown)]
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.also == () and finished.answer.text == "echo: waiting in line"
        pool.ref.tell(TurnFollowUp(CHAT, "t1", waiting, "for the finished turn", False))
        assert pool.wait(CHAT, FollowUpRefused, 3)[-1] == FollowUpRefused(CHAT, "t1", waiting)
        # Refused messages stay owed: the chat runs them as ordinary messages.
        assert pool.journal.state_of(waiting) is not MessageState.ANSWERED
        assert not pool.told[CHAT].count(FollowUpTaken(CHAT, "t1", waiting))


def test_a_follow_up_that_comes_after_the_answer_is_refused_by_the_child(
    tmp_path: Path,
) -> None:
    with running_pool(tmp_path, delay=0.1, result_grace=3.0) as pool:
        pool.ask_turn(CHAT, "answer, then linger [[linger]]", "t1")
        pool.wait(CHAT, TurnStarted)
        time.sleep(1.0)  # answered by now: its stdin is closed, the process lingers
        late = pool.message(CHAT, "too late")
        pool.ref.tell(TurnFollowUp(CHAT, "t1", late, "too late", False))
        assert pool.wait(CHAT, FollowUpRefused) == [FollowUpRefused(CHAT, "t1", late)]
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.also == ()
        assert [r["prompt"] for r in pool.received()] == ["answer, then linger [[linger]]"]


def test_a_retry_carries_every_follow_up_the_failed_attempt_took(tmp_path: Path) -> None:
    with running_pool(tmp_path) as pool:
        first = pool.ask_turn(CHAT, "first [[empty-once]]", "t1")
        pool.wait(CHAT, TurnStarted)
        second = pool.message(CHAT, "second")
        pool.ref.tell(TurnFollowUp(CHAT, "t1", second, "second", False))
        pool.wait(CHAT, FollowUpTaken)
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.attempts == 2
        assert finished.answer.text == "echo: first [[empty-once]]\n\nsecond"
        assert finished.also == (second,)
        records = pool.received()
        assert [r["prompt"] for r in records] == [
            "first [[empty-once]]", "second", "first [[empty-once]]\n\nsecond"]
        assert records[0]["pid"] == records[1]["pid"] != records[2]["pid"]
        assert pool.journal.state_of(first) is MessageState.ANSWERED
        _answered_by(pool.journal, second)


def test_a_turn_request_with_merged_messages_closes_them_in_the_journal(
    tmp_path: Path,
) -> None:
    with running_pool(tmp_path, delay=0.1) as pool:
        merged = pool.message(CHAT, "one")
        first = pool.message(CHAT, "two")
        pool.ref.tell(TurnRequested(CHAT, "t1", first, "one\n\ntwo", also=(merged,)))
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.also == (merged,)
        _answered_by(pool.journal, merged)
