"""What daily budgets count: each turn's cost, booked on the UTC day the turn finished."""

from __future__ import annotations

import calendar
import sqlite3
from pathlib import Path

from tests.state.test_journal import Wall, msg
from wakeful.state.database import SCHEMA_VERSION
from wakeful.state.journal import Journal
from wakeful.state.records import Answer, AnswerKind

DAY = 86_400
LATE = calendar.timegm((2026, 12, 5, 23, 59, 0))


def _turn(journal: Journal, update_id: int, cost: float | None, chat: int = 1) -> None:
    journal.accept_batch([msg(update_id, chat)], update_id + 1)
    assert journal.begin_turn(update_id, generation=1).granted
    assert journal.finish_turn(update_id, 1, Answer(AnswerKind.REPLY, "ok"), cost_usd=cost)


def test_costs_add_up_per_chat_per_utc_day_and_a_new_day_starts_at_zero(tmp_path: Path) -> None:
    wall = Wall(LATE)
    journal = Journal(str(tmp_path / "j.sqlite3"), wall=wall)
    _turn(journal, 1, 0.25)
    _turn(journal, 2, 0.5)
    _turn(journal, 3, None)  # a turn the CLI reported no cost for
    _turn(journal, 4, 7.0, chat=2)
    assert journal.spent_today(1, LATE) == 0.75
    assert journal.spent_today(2, LATE) == 7.0
    assert journal.spent_today(3, LATE) == 0.0
    wall.now = LATE + 120  # 00:01 the next day
    _turn(journal, 5, 0.1)
    assert journal.spent_today(1, wall.now) == 0.1
    assert journal.spent_today(1, LATE) == 0.75, "yesterday's spend is still yesterday's"
    assert journal.chat_totals(1)["cost_usd"] == 0.85
    journal.close()


def test_a_fenced_pools_late_result_books_no_cost(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.sqlite3"), wall=Wall(LATE))
    journal.accept_batch([msg(1)], 2)
    assert journal.begin_turn(1, generation=1).granted
    assert not journal.finish_turn(1, 2, Answer(AnswerKind.REPLY, "late"), cost_usd=3.0)
    assert journal.spent_today(1, LATE) == 0.0
    journal.close()


def test_retention_forgets_spending_older_than_it_keeps(tmp_path: Path) -> None:
    wall = Wall(LATE)
    journal = Journal(str(tmp_path / "j.sqlite3"), wall=wall)
    _turn(journal, 1, 1.0)
    wall.now = LATE + 10 * DAY
    _turn(journal, 2, 2.0)
    journal.prune(older_than=wall.now - 7 * DAY)
    assert journal.spent_today(1, LATE) == 0.0
    assert journal.spent_today(1, wall.now) == 2.0
    journal.close()


def test_a_journal_written_before_budgets_opens_and_counts_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    # The schema-1 tables a journal from before spending existed has (the ones used here).
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE chats (chat_id INTEGER PRIMARY KEY, session_id TEXT,
            last_answered INTEGER, turns INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0, gone TEXT);
        INSERT INTO chats (chat_id, turns, cost_usd) VALUES (1, 3, 9.0);
        PRAGMA user_version = 1;
    """)
    old.close()
    journal = Journal(str(path), wall=Wall(LATE))
    assert journal.spent_today(1, LATE) == 0.0
    _turn(journal, 1, 0.5)
    assert journal.spent_today(1, LATE) == 0.5
    assert journal.chat_totals(1)["cost_usd"] == 9.5
    journal.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION >= 2
