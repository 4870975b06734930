"""The journal keeps each chat's /mode and each message's sender, old journals included."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wakeful.messages import IncomingMessage
from wakeful.state.database import SCHEMA_VERSION
from wakeful.state.journal import Journal

CHAT = -100_42


def _message(update_id: int, name: str | None) -> IncomingMessage:
    return IncomingMessage(update_id, CHAT, update_id, 7, f"text {update_id}", 0.0,
                           sender_name=name)


def test_a_chats_mode_is_kept_and_other_chats_have_none(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.sqlite3"))
    assert journal.chat_mode(CHAT) is None
    journal.set_chat_mode(CHAT, "collect")
    journal.set_chat_mode(CHAT, "interrupt")
    assert journal.chat_mode(CHAT) == "interrupt"
    assert journal.chat_mode(1) is None
    journal.close()
    reopened = Journal(str(tmp_path / "j.sqlite3"))
    assert reopened.chat_mode(CHAT) == "interrupt"
    reopened.close()


def test_the_sender_of_an_open_message_comes_back_with_it(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.sqlite3"))
    journal.accept_batch([_message(1, "Alice"), _message(2, None)], 3)
    work = journal.open_work(CHAT, 0.0)
    assert [m.message.sender_name for m in work.messages] == ["Alice", None]
    journal.close()


def test_a_journal_from_before_modes_and_senders_opens_and_keeps_its_rows(
        tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    # The schema-1 tables these columns were added to, as wakeful wrote them then.
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE messages (update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL, user_id INTEGER, text TEXT, state TEXT NOT NULL,
            run INTEGER NOT NULL, accepted_at REAL NOT NULL, acked_at REAL, turn_at REAL,
            done_at REAL, owner_run INTEGER, owner_gen INTEGER, brain_pid INTEGER,
            brain_start INTEGER);
        CREATE TABLE chats (chat_id INTEGER PRIMARY KEY, session_id TEXT,
            last_answered INTEGER, turns INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0, gone TEXT);
        INSERT INTO messages (update_id, chat_id, message_id, user_id, text, state, run,
            accepted_at) VALUES (1, -10042, 1, 7, 'from before', 'acknowledged', 1, 0);
        INSERT INTO chats (chat_id, session_id) VALUES (-10042, 'abc');
        PRAGMA user_version = 1;
    """)
    old.close()
    journal = Journal(str(path))
    assert journal.chat_mode(CHAT) is None and journal.session(CHAT) == "abc"
    journal.set_chat_mode(CHAT, "queue")
    assert journal.chat_mode(CHAT) == "queue"
    journal.accept_batch([_message(2, "Bob")], 3)
    work = journal.open_work(CHAT, 0.0)
    assert [(m.message.text, m.message.sender_name) for m in work.messages] == [
        ("from before", None), ("text 2", "Bob")]
    journal.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
