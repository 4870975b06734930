"""The journal on its own, on a real SQLite file: states, idempotence, ownership, retention."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wakeful.messages import IncomingMessage
from wakeful.state.journal import Journal, JournalError
from wakeful.state.records import Answer, AnswerKind, MessageState


class Wall:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def msg(update_id: int, chat: int = 1, text: str | None = None) -> IncomingMessage:
    return IncomingMessage(update_id, chat, update_id * 10, chat, text or f"m{update_id}", 0.0)


def as_unprivileged_user(workdir: Path, code: str) -> str:
    """Run `code` as this user, or as `nobody` when this is root; returns its output."""
    def drop() -> None:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)

    if os.geteuid() == 0:
        for entry in [workdir, *workdir.iterdir()]:
            os.chown(entry, 65534, 65534)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=repo, preexec_fn=drop, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def journal(tmp_path: Path, wall: Wall) -> Journal:
    j = Journal(str(tmp_path / "journal.sqlite3"), wall=wall)
    yield j
    j.close()


def states(journal: Journal, chat: int = 1) -> dict[int, MessageState | None]:
    work = journal.open_work(chat, 0.0)
    return {m.message.update_id: journal.state_of(m.message.update_id) for m in work.messages}


def test_a_batch_and_its_offset_are_committed_together_and_redeliveries_are_ignored(
    journal: Journal,
) -> None:
    accepted = journal.accept_batch([msg(1), msg(2)], next_offset=3)
    assert [m.update_id for m in accepted.new] == [1, 2]
    assert journal.offset == 3
    again = journal.accept_batch([msg(2), msg(3)], next_offset=4)
    assert [m.update_id for m in again.new] == [3], "update 2 is stored already"
    late = journal.accept_batch([msg(1)], next_offset=2)
    assert late.new == (), "below the committed offset: a replaced poller's late batch"
    assert journal.offset == 4, "the offset never moves backwards"
    assert states(journal) == {1: MessageState.ACCEPTED, 2: MessageState.ACCEPTED,
                               3: MessageState.ACCEPTED}


def test_nothing_is_committed_when_the_transaction_fails(journal: Journal) -> None:
    journal.accept_batch([msg(1)], next_offset=2)
    with pytest.raises(RuntimeError), journal._tx() as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'offset'")
        raise RuntimeError("the caller died mid-transaction")
    assert journal.offset == 2
    assert journal.failure is None, "not the journal's fault: it stays usable"


def test_a_message_goes_through_every_state_and_its_answer_is_stored_before_delivery(
    journal: Journal,
) -> None:
    journal.accept_batch([msg(1)], next_offset=2)
    journal.mark_acked(1)
    assert states(journal) == {1: MessageState.ACKNOWLEDGED}
    assert journal.begin_turn(1, generation=1).granted
    assert states(journal) == {1: MessageState.IN_TURN}
    journal.brain_started(1, 1, pid=4242, start_time=99)
    assert [(b.update_id, b.pid, b.start_time) for b in journal.running_brains()] == \
        [(1, 4242, 99)]
    answer = Answer(AnswerKind.ANSWER, "hello")
    assert journal.finish_turn(1, 1, answer, session_id="s-1", cost_usd=0.5)
    work = journal.open_work(1, 0.0)
    assert work.messages == ()
    assert [(a.update_id, a.reply_to, a.answer, a.parts_sent) for a in work.answers] == \
        [(1, 10, answer, 0)]
    assert work.session_id == "s-1"
    journal.part_sent(1, 0, 555)
    assert journal.open_work(1, 0.0).answers[0].parts_sent == 1
    journal.answer_delivered(1)
    assert journal.open_work(1, 0.0).empty
    assert journal.owed(1) == []
    assert journal.chat_totals(1) == {"turns": 1, "failed": 0, "cost_usd": 0.5,
                                      "last_answered": 1, "gone": None}


def test_one_owner_per_turn(journal: Journal) -> None:
    journal.accept_batch([msg(1)], next_offset=2)
    assert journal.begin_turn(1, generation=1).granted
    assert journal.begin_turn(1, generation=1).granted, "the owner's own retry"
    assert not journal.begin_turn(1, generation=2).granted, "nobody else while it runs"
    # A replacement pool takes it back and learns which brain to kill first.
    journal.brain_started(1, 1, pid=4242, start_time=99)
    leftovers = journal.reclaim_turns(generation=2)
    assert [(b.pid, b.start_time) for b in leftovers] == [(4242, 99)]
    assert states(journal) == {1: MessageState.ACCEPTED}, "its 👀 never went out"
    assert journal.begin_turn(1, generation=2).granted
    # The fenced pool's late result is discarded.
    assert not journal.finish_turn(1, 1, Answer(AnswerKind.ANSWER, "late"))
    assert journal.finish_turn(1, 2, Answer(AnswerKind.ANSWER, "mine"))
    claim = journal.begin_turn(1, generation=3)
    assert not claim.granted and claim.answer == Answer(AnswerKind.ANSWER, "mine")


def test_the_next_run_takes_back_every_turn_of_the_last_one(tmp_path: Path, wall: Wall) -> None:
    path = str(tmp_path / "j.sqlite3")
    first = Journal(path, wall=wall)
    first.accept_batch([msg(1), msg(2)], next_offset=3)
    first.begin_turn(1, generation=7)
    first.brain_started(1, 7, pid=111, start_time=5)
    first.close()
    second = Journal(path, wall=wall)
    assert second.run == first.run + 1
    assert [b.pid for b in second.reclaim_turns(generation=1)] == [111]
    work = second.open_work(1, 0.0)
    assert [m.message.update_id for m in work.messages] == [1, 2]
    assert work.carried_over == 2, "both were accepted by the previous run"
    second.told_restart(1)
    assert second.open_work(1, 0.0).carried_over == 0, "told once per restart"
    second.close()


def test_released_turns_run_again_and_remember_whether_their_eyes_went_out(
    journal: Journal,
) -> None:
    journal.accept_batch([msg(1), msg(2)], next_offset=3)
    journal.mark_acked(1)
    for update_id in (1, 2):
        journal.begin_turn(update_id, generation=1)
        journal.release_turn(update_id, generation=1)
    assert states(journal) == {1: MessageState.ACKNOWLEDGED, 2: MessageState.ACCEPTED}
    assert [m.acked for m in journal.open_work(1, 0.0).messages] == [True, False]
    assert journal.begin_turn(1, generation=1).granted


def test_wakefuls_own_replies_and_silent_completions(journal: Journal) -> None:
    journal.accept_batch([msg(1), msg(2)], next_offset=3)
    journal.reply(1, Answer(AnswerKind.REPLY, "nothing to cancel"))
    journal.reply(2, Answer(AnswerKind.NONE))
    work = journal.open_work(1, 0.0)
    assert [a.update_id for a in work.answers] == [1], "nothing to deliver for update 2"


def test_a_chat_that_is_gone_fails_its_open_work_and_comes_back_when_it_writes(
    journal: Journal,
) -> None:
    journal.accept_batch([msg(1), msg(2)], next_offset=3)
    journal.begin_turn(1, 1)
    journal.finish_turn(1, 1, Answer(AnswerKind.ANSWER, "hi"))
    assert journal.chat_gone(1, "Forbidden: bot was blocked by the user") == [2]
    assert journal.open_work(1, 0.0).empty
    assert journal.chat_totals(1)["gone"] == "Forbidden: bot was blocked by the user"
    journal.accept_batch([msg(3)], next_offset=4)
    assert journal.chat_totals(1)["gone"] is None


def test_refusals_are_throttled_per_chat_and_user_across_restarts(
    tmp_path: Path, wall: Wall
) -> None:
    path = str(tmp_path / "j.sqlite3")
    journal = Journal(path, wall=wall)
    first = journal.accept_batch([], 2, strangers=[(5, 50), (5, 50), (6, 60)], refusal_every=600)
    assert list(first.refuse) == [(5, 50), (6, 60)], "one refusal each, even twice in a batch"
    wall.now += 100
    assert journal.accept_batch([], 3, strangers=[(5, 50), (5, 51)]).refuse == ((5, 51),)
    journal.close()
    restarted = Journal(path, wall=wall)
    assert restarted.accept_batch([], 4, strangers=[(5, 50)]).refuse == ()
    wall.now += 600
    assert restarted.accept_batch([], 5, strangers=[(5, 50)]).refuse == ((5, 50),)
    assert restarted.owed(5) == [], "a stranger's message is never stored"
    restarted.close()


def test_refusal_memory_is_bounded(journal: Journal, wall: Wall) -> None:
    journal.accept_batch([], 2, strangers=[(c, c) for c in range(50)])
    wall.now += 10
    journal.accept_batch([], 3, strangers=[(c, c) for c in range(50, 80)])
    assert journal.prune_refusals(older_than=wall.now - 600, keep_at_most=40) == 40
    assert journal.summary()["refusals_kept"] == 40
    wall.now += 1000
    assert journal.prune_refusals(older_than=wall.now - 600) == 40


def test_retention_deletes_old_finished_rows_in_batches_and_keeps_everything_owed(
    journal: Journal, wall: Wall
) -> None:
    journal.accept_batch([msg(u) for u in range(1, 8)], next_offset=8)
    for u in range(1, 6):
        journal.reply(u, Answer(AnswerKind.REPLY, "ok"))
        journal.answer_delivered(u)
    journal.reply(6, Answer(AnswerKind.REPLY, "not delivered yet"))
    wall.now += 10 * 86_400
    assert journal.prune(older_than=wall.now - 86_400, limit=2) == 2
    assert journal.prune(older_than=wall.now - 86_400, limit=10) == 3
    assert journal.prune(older_than=wall.now - 86_400, limit=10) == 0
    assert journal.owed(1) == [6, 7], "pending answers and open messages are never pruned"
    assert journal.summary()["messages"] == {"accepted": 1, "answered": 1}


def test_a_second_instance_on_the_same_journal_is_refused(journal: Journal) -> None:
    with pytest.raises(JournalError, match="in use by another wakeful"):
        Journal(journal.path)


def test_a_read_only_journal_is_one_clear_error() -> None:
    home = Path(tempfile.mkdtemp(prefix="wakeful-ro-"))  # reachable by another user
    home.chmod(0o755)
    path = home / "ro.sqlite3"
    Journal(str(path)).close()
    path.chmod(0o400)
    # Root may write anything; the check is about a user who may not, so play one.
    try:
        error = as_unprivileged_user(
            home, "from wakeful.state.journal import Journal, JournalError\n"
            f"try:\n    Journal({str(path)!r})\nexcept JournalError as exc:\n    print(exc)\n")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert "is read-only" in error and str(path) in error


def test_a_corrupt_journal_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="corrupt"):
        Journal(str(path))


def test_a_full_disk_is_loud_and_fatal(tmp_path: Path) -> None:
    failures: list[str] = []
    journal = Journal(str(tmp_path / "full.sqlite3"), on_failure=failures.append)
    with journal._read() as db:
        # SQLite's own way to make a database "full": no page beyond what it has now.
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
    big = [msg(u, text="x" * 4000) for u in range(1, 200)]
    with pytest.raises(JournalError, match="full"):
        journal.accept_batch(big, next_offset=200)
    assert len(failures) == 1 and "full" in failures[0]
    with pytest.raises(JournalError):
        journal.offset  # noqa: B018 - once failed, never used quietly again
    assert journal.failure is not None
    journal.close()


def test_a_journal_belongs_to_one_bot(journal: Journal) -> None:
    journal.bind_bot(111, "first_bot")
    journal.bind_bot(111, "first_bot")
    with pytest.raises(JournalError, match="belongs to bot 111"):
        journal.bind_bot(222, "second_bot")
    assert journal.failure is None, "a wrong token is the operator's mistake, not a broken file"
