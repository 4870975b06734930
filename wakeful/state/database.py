"""Opening the journal's SQLite file: one instance per file, WAL, a known schema, loud failures.

Everything that can go wrong with the file itself (another wakeful holds it, it is
read-only, corrupt, or the disk is full) becomes one `JournalError` whose text is a
single line an operator can act on. A journal that cannot be trusted is never used
quietly: messages would be lost without a word.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from wakeful import pidlock

# 1: the first schema. 2: `spending` (daily budgets). Every step only adds tables, so
# opening an older journal is the migration: SCHEMA below creates what it lacks.
# 3: messages.media (attachments, unsupported kinds): a column, added by COLUMNS below.
# 4: messages.sender_name (groups' prompts name the speaker), chats.mode (/mode): columns.
# 5: `tool_grants` (tool approvals: "Always in this chat").
SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS messages (
    update_id   INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    user_id     INTEGER,
    text        TEXT,
    state       TEXT NOT NULL,
    run         INTEGER NOT NULL,  -- the service run that last told the user about it
    accepted_at REAL NOT NULL,     -- unix time, like every *_at column
    acked_at    REAL,
    turn_at     REAL,
    done_at     REAL,
    owner_run   INTEGER,           -- who runs its turn: (run, brain pool generation)
    owner_gen   INTEGER,
    brain_pid   INTEGER,           -- the brain's pid, which is also its process group
    brain_start INTEGER,           -- and its start time, so a reused pid is never killed
    media       TEXT,              -- JSON: the message's files and unsupported content
    sender_name TEXT               -- who wrote it, as Telegram names them
);
CREATE INDEX IF NOT EXISTS messages_open ON messages (chat_id, update_id)
    WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS messages_done ON messages (done_at)
    WHERE done_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS answers (
    update_id   INTEGER PRIMARY KEY REFERENCES messages (update_id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    answer      TEXT NOT NULL,     -- JSON of records.Answer
    state       TEXT NOT NULL,     -- pending | delivered | undeliverable
    parts_sent  INTEGER NOT NULL DEFAULT 0,
    message_ids TEXT NOT NULL DEFAULT '[]',
    stored_at   REAL NOT NULL,
    done_at     REAL,
    failure     TEXT
);
CREATE INDEX IF NOT EXISTS answers_pending ON answers (chat_id, update_id)
    WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS chats (
    chat_id       INTEGER PRIMARY KEY,
    session_id    TEXT,
    last_answered INTEGER,
    turns         INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    gone          TEXT,              -- why Telegram will not take messages for it any more
    mode          TEXT               -- its queue mode (/mode); NULL: [chats] mode
);

CREATE TABLE IF NOT EXISTS refusals (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    at      REAL NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refusals_at ON refusals (at);

CREATE TABLE IF NOT EXISTS spending (
    chat_id  INTEGER NOT NULL,
    day      TEXT NOT NULL,        -- the UTC date its turns finished on, YYYY-MM-DD
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tool_grants (
    chat_id    INTEGER NOT NULL,
    tool       TEXT NOT NULL,      -- a tool someone allowed "always in this chat"
    granted_at REAL NOT NULL,      -- wall clock
    PRIMARY KEY (chat_id, tool)
) WITHOUT ROWID;
"""


class JournalError(Exception):
    """The journal cannot be used; the text is one line for the operator."""


SYNCHRONOUS = ("full", "normal")


@dataclass
class Opened:
    connection: sqlite3.Connection
    lock_fd: int | None
    path: str


def describe(exc: BaseException, path: str) -> str:
    """One line for an sqlite3 error, naming the file and what to do."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"journal {path} is read-only ({text}); make it writable for this user"
    if "disk is full" in lowered or "disk i/o" in lowered:
        return f"journal {path}: {text}; free some space, then restart"
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (f"journal {path} is corrupt ({text}); move it aside to start with an empty "
                "one (messages it held are lost)")
    if "unable to open" in lowered:
        return f"journal {path} cannot be opened ({text}); check the directory exists " \
               "and is writable"
    if "locked" in lowered or "busy" in lowered:
        return f"journal {path} is locked by another process ({text})"
    return f"journal {path}: {text}"


def open_database(path: str, synchronous: str) -> Opened:
    """Open (creating if needed) and check the journal; raises JournalError."""
    if synchronous not in SYNCHRONOUS:
        raise JournalError(f"journal synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
    lock_fd = None
    if path != ":memory:":
        file = Path(path)
        try:
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create the journal's directory {file.parent}: "
                               f"{exc.strerror}") from None
        if file.exists() and not os.access(file, os.W_OK):
            raise JournalError(f"journal {path} is read-only (permission denied); make it "
                               "writable for this user")
        lock_fd = _lock(path)
    try:
        connection = _connect(path, synchronous)
    except JournalError:
        _unlock(lock_fd)
        raise
    return Opened(connection, lock_fd, path)


def close_database(opened: Opened) -> None:
    with contextlib.suppress(sqlite3.Error):
        opened.connection.close()
    _unlock(opened.lock_fd)


def _connect(path: str, synchronous: str) -> sqlite3.Connection:
    try:
        # One connection, shared by every actor thread behind the journal's lock: one
        # writer by construction, and SQLite's own locking is never waited on.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     timeout=0.0)
        if path != ":memory:":
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if path != ":memory:" and str(mode).lower() != "wal":
            raise JournalError(f"journal {path}: SQLite refused WAL mode (got {mode})")
        connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
        connection.execute("PRAGMA foreign_keys=ON")
        problems = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problems != "ok":
            raise JournalError(describe(sqlite3.DatabaseError(f"database disk image is "
                                                              f"malformed: {problems}"), path))
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(f"journal {path} was written by a newer wakeful (schema "
                               f"{version}, this one knows {SCHEMA_VERSION})")
        connection.executescript(SCHEMA)
        _add_columns(connection)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        raise JournalError(describe(exc, path)) from None
    return connection


# Columns added after their table was first created: (table, column, definition). A
# journal written before them gets them here (CREATE TABLE IF NOT EXISTS cannot).
COLUMNS = (("messages", "media", "TEXT"), ("messages", "sender_name", "TEXT"),
           ("chats", "mode", "TEXT"))


def _add_columns(connection: sqlite3.Connection) -> None:
    for table, column, definition in COLUMNS:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _lock(path: str) -> int:
    """Hold `<journal>.lock` for the life of the process: a second instance would fight
    over the same rows and over getUpdates, so it must not start at all."""
    lock_path = f"{path}.lock"
    try:
        return pidlock.hold(lock_path)
    except pidlock.LockHeld as held:
        raise JournalError(f"journal {path} is in use by another wakeful (pid {held}); "
                           "only one instance may run per journal (and per bot token)") \
            from None
    except OSError as exc:
        raise JournalError(f"cannot create the journal lock {lock_path}: {exc.strerror}") \
            from None


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
