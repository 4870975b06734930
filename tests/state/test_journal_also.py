"""finish_turn(..., also=...): a turn's answer closes every message it answered, at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wakeful.messages import IncomingMessage
from wakeful.state.journal import Journal
from wakeful.state.records import Answer, AnswerKind, MessageState


def msg(update_id: int, chat: int = 1) -> IncomingMessage:
    return IncomingMessage(update_id, chat, update_id * 10, chat, f"m{update_id}", 0.0)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(str(tmp_path / "journal.sqlite3"))
    yield j
    j.close()


def test_the_messages_a_turn_also_answered_are_closed_with_its_answer(journal: Journal) -> None:
    journal.accept_batch([msg(1), msg(2), msg(3), msg(4), msg(9, chat=2)], 10)
    journal.mark_acked(2)
    journal.reply(4, Answer(AnswerKind.REPLY, "already answered"))
    assert journal.begin_turn(1, generation=1).granted
    assert journal.finish_turn(1, 1, Answer(AnswerKind.ANSWER, "both"), also=(2, 3, 4, 9, 77))
    for update_id in (1, 2, 3):
        assert journal.state_of(update_id) is MessageState.ANSWERED
    assert journal.stored_answer(1) == Answer(AnswerKind.ANSWER, "both")
    assert journal.stored_answer(2) == Answer(AnswerKind.NONE)
    assert journal.stored_answer(3) == Answer(AnswerKind.NONE)
    # One already answered keeps its answer; another chat's message is not ours to close.
    assert journal.stored_answer(4) == Answer(AnswerKind.REPLY, "already answered")
    assert journal.state_of(9) is MessageState.ACCEPTED
    assert journal.owed(1) == [1, 4]  # the answers still to deliver; 2 and 3 need none
    assert journal.chat_totals(1)["turns"] == 1  # one turn, however many it answered


def test_a_fenced_pool_closes_nothing(journal: Journal) -> None:
    journal.accept_batch([msg(1), msg(2)], 3)
    assert journal.begin_turn(1, generation=1).granted
    assert not journal.finish_turn(1, 2, Answer(AnswerKind.ANSWER, "late"), also=(2,))
    assert journal.state_of(2) is MessageState.ACCEPTED
    assert journal.stored_answer(2) is None


def test_a_message_another_owner_is_running_is_left_alone(journal: Journal) -> None:
    journal.accept_batch([msg(1), msg(2)], 3)
    assert journal.begin_turn(1, generation=1).granted
    assert journal.begin_turn(2, generation=2).granted  # a newer pool runs it
    assert journal.finish_turn(1, 1, Answer(AnswerKind.ANSWER, "x"), also=(2,))
    assert journal.state_of(2) is MessageState.IN_TURN
    assert journal.stored_answer(2) is None
