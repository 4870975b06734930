"""A turn whose worker cannot be started (the fork server just died, no processes left)
is retried like a transient API error; it is not answered with a failure, and it is
given back for after the restart when a stop comes while it waits for its retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.brain.test_follow_ups_pool import CHAT, running_pool
from wakeful.brain.process import BrainProcess
from wakeful.messages import DrainRequested, TurnAbandoned, TurnFinished, TurnRetryScheduled
from wakeful.state.records import AnswerKind, MessageState
from wakeful.supervision.latch import Latch

pytestmark = pytest.mark.timeout(60)


def _failing_starts(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """BrainProcess.start raises EOFError (what a dying fork server's socket gives) for
    the first `failures` calls, then starts for real."""
    calls: list[int] = []
    real = BrainProcess.start

    def start(self: BrainProcess) -> Any:
        calls.append(1)
        if len(calls) <= failures:
            raise EOFError("unexpected EOF")
        return real(self)

    monkeypatch.setattr(BrainProcess, "start", start)
    return calls


def test_a_turn_whose_worker_cannot_start_is_retried_and_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _failing_starts(monkeypatch, failures=1)
    with running_pool(tmp_path, delay=0.1) as pool:
        update_id = pool.ask_turn(CHAT, "hello", "t1")
        [retry] = pool.wait(CHAT, TurnRetryScheduled)
        assert "cannot start a brain process: unexpected EOF" in retry.reason
        [finished] = pool.wait(CHAT, TurnFinished)
        assert finished.answer.kind is AnswerKind.ANSWER
        assert finished.answer.text == "echo: hello"
        assert len(calls) == 2
        assert pool.journal.state_of(update_id) is MessageState.ANSWERED


def test_a_stop_while_it_waits_for_its_retry_gives_the_turn_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _failing_starts(monkeypatch, failures=1)
    with running_pool(tmp_path, delay=0.1, retry_initial_delay=30.0,
                      retry_max_delay=30.0) as pool:
        update_id = pool.ask_turn(CHAT, "hello", "t1")
        pool.wait(CHAT, TurnRetryScheduled)
        latch = Latch()
        pool.ref.tell(DrainRequested(grace=5.0, latch=latch))
        pool.wait(CHAT, TurnAbandoned)
        assert latch.wait(5.0) == set(), "the pool is drained: nothing left running"
        assert not [m for m in pool.told[CHAT] if isinstance(m, TurnFinished)]
        # Unanswered and owned by nobody: the next run takes it up again.
        assert pool.journal.state_of(update_id) is not MessageState.ANSWERED
        assert update_id in pool.journal.owed(CHAT)
