"""The journal: every accepted message, its answer and its delivery, in one SQLite file.

What must outlive an actor, a restart of the service and a kill -9 lives here, never
in an actor. The poller commits each getUpdates batch (the admitted messages and the
next offset) in one transaction before it asks Telegram for that offset, so Telegram
forgets nothing the journal has not got. A brain pool claims a message before it runs
it and stores the answer before anyone sends it; a chat actor records each part
Telegram took. A replacement actor, or the next run of the service, starts from
exactly what is written here. docs/durability.md describes the states.

Thread-safe: actors call it from their own threads; one lock, one connection, short
transactions (one writer by construction). Every SQLite failure is fatal and loud:
`on_failure` is told once (the service then exits non-zero) and the caller gets a
`JournalError`, so nothing is ever dropped quietly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wakeful.messages import Attachment, IncomingMessage
from wakeful.state.database import (
    JournalError,
    Opened,
    close_database,
    describe,
    open_database,
)
from wakeful.state.records import (
    Accepted,
    Answer,
    AnswerKind,
    ChatWork,
    Claim,
    LeftoverBrain,
    MessageState,
    OpenMessage,
    PendingAnswer,
)

log = logging.getLogger(__name__)

_OPEN_SQL = "('accepted', 'acknowledged', 'in_turn')"
_MARK_ACKED = ("UPDATE messages SET acked_at = COALESCE(acked_at, ?), state = CASE state "
               "WHEN 'accepted' THEN 'acknowledged' ELSE state END WHERE update_id = ?")
ACKS_PER_COMMIT = 64
# A turn given back goes to the open state its 👀 says: only a 👀 Telegram took counts.
_BACK_TO_OPEN = "CASE WHEN acked_at IS NULL THEN 'accepted' ELSE 'acknowledged' END"
# Strangers are unbounded; refusal times are kept this many at most (the oldest go
# first, see prune_refusals), so even a flood within one window costs bounded space.
MAX_REFUSALS_KEPT = 100_000


def default_path() -> str:
    """`$XDG_STATE_HOME/wakeful/journal.sqlite3`, else under ~/.local/state."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "wakeful" / "journal.sqlite3")


@dataclass(frozen=True)
class JournalConfig:
    """[journal]: where accepted messages and answers are kept (docs/durability.md)."""

    path: str = ""  # empty: default_path()
    # FULL: a commit survives power loss (one fsync per transaction, ~0.2 ms here);
    # NORMAL: survives a crash of the process, not of the machine.
    synchronous: str = "full"
    retain_days: float = 7.0  # finished messages and answers older than this are deleted

    def resolved_path(self) -> str:
        return os.path.expanduser(self.path) if self.path else default_path()


class Journal:
    def __init__(
        self,
        path: str = ":memory:",
        synchronous: str = "full",
        wall: Callable[[], float] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """Open (and lock) the journal; raises JournalError with one line if it can't."""
        self._wall = wall or time.time
        self._on_failure = on_failure
        self._lock = threading.RLock()
        self._opened: Opened | None = open_database(path, synchronous)
        self.path = path
        self.failure: str | None = None
        self._acks: list[tuple[int, float]] = []  # 👀 marks waiting for the next commit
        with self._tx() as db:
            run = _meta(db, "run") or 0
            self.run = int(run) + 1
            _set_meta(db, "run", self.run)

    # --- plumbing --------------------------------------------------------------------

    def set_failure_handler(self, on_failure: Callable[[str], None]) -> None:
        self._on_failure = on_failure

    def close(self) -> None:
        with self._lock:
            if self._opened is not None and self.failure is None:
                with contextlib.suppress(JournalError):
                    self._flush_acks()
            if self._opened is not None:
                close_database(self._opened)
                self._opened = None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any error."""
        with self._lock:
            if self._opened is None:
                raise JournalError(f"journal {self.path} is closed")
            if self.failure is not None:
                raise JournalError(self.failure)
            db = self._opened.connection
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if self._acks:
                        db.executemany(_MARK_ACKED, [(at, u) for u, at in self._acks])
                        self._acks.clear()
                    yield db
                except BaseException:
                    # SQLite may have rolled back already (a full disk does): only the
                    # original error is worth reporting.
                    if db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(describe(exc, self.path))

    def _flush_acks(self) -> None:
        with self._lock:
            if self._acks:
                with self._tx():
                    pass  # _tx writes the pending marks first

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._opened is None:
                raise JournalError(f"journal {self.path} is closed")
            if self.failure is not None:
                raise JournalError(self.failure)
            try:
                yield self._opened.connection
            except sqlite3.Error as exc:
                self._fail(describe(exc, self.path))

    def _fail(self, reason: str) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._opened is not None and self._opened.connection.in_transaction:
                self._opened.connection.execute("ROLLBACK")
        first = self.failure is None
        self.failure = reason
        if first:
            log.critical("journal failure: %s", reason)
            if self._on_failure is not None:
                self._on_failure(reason)
        raise JournalError(reason)

    def bind_bot(self, bot_id: int, username: str) -> None:
        """A journal belongs to one bot: its offset, chats and sessions mean nothing to
        another. A token for a different bot is refused rather than mixed in."""
        with self._tx() as db:
            owner = _meta(db, "bot_id")
            if owner is None:
                _set_meta(db, "bot_id", bot_id)
                _set_meta(db, "bot_username", username)
                return
            if int(owner) != bot_id:
                name = _meta(db, "bot_username")
                raise JournalError(
                    f"journal {self.path} belongs to bot {owner} (@{name}), but the token is "
                    f"for bot {bot_id} (@{username}); give this bot its own [journal] path")

    # --- poller side -----------------------------------------------------------------

    @property
    def offset(self) -> int | None:
        with self._read() as db:
            value = _meta(db, "offset")
            return None if value is None else int(value)

    def accept_batch(
        self,
        messages: Sequence[IncomingMessage],
        next_offset: int | None,
        strangers: Sequence[tuple[int, int]] = (),
        refusal_every: float = 600.0,
    ) -> Accepted:
        """Commit one getUpdates batch: its admitted messages and the next offset, together.

        Idempotent on update_id: a message already stored, or below the committed
        offset (a replaced poller's late batch), is not stored again and not returned.
        `strangers` are (chat_id, user_id) pairs refused at the door; those not refused
        within `refusal_every` seconds (across restarts too) come back in `refuse`.
        """
        now = self._wall()
        new: list[IncomingMessage] = []
        refuse: list[tuple[int, int]] = []
        with self._tx() as db:
            offset = _meta(db, "offset")
            for message in messages:
                if offset is not None and message.update_id < int(offset):
                    continue
                cursor = db.execute(
                    "INSERT OR IGNORE INTO messages (update_id, chat_id, message_id, user_id,"
                    " text, state, run, accepted_at, media, sender_name) "
                    "VALUES (?, ?, ?, ?, ?, 'accepted', ?, ?, ?, ?)",
                    (message.update_id, message.chat_id, message.message_id, message.user_id,
                     message.text, self.run, now, _media_json(message), message.sender_name))
                if cursor.rowcount:
                    new.append(message)
            for chat_id, user_id in dict.fromkeys(strangers):
                cursor = db.execute(
                    "INSERT INTO refusals (chat_id, user_id, at) VALUES (?, ?, ?) "
                    "ON CONFLICT (chat_id, user_id) DO UPDATE SET at = excluded.at "
                    "WHERE refusals.at <= excluded.at - ?",
                    (chat_id, user_id, now, refusal_every))
                if cursor.rowcount:
                    refuse.append((chat_id, user_id))
            if next_offset is not None and (offset is None or next_offset > int(offset)):
                _set_meta(db, "offset", next_offset)
            if new:
                # A chat that writes again is not "gone" any more (they unblocked us).
                db.executemany("UPDATE chats SET gone = NULL WHERE chat_id = ? AND gone "
                               "IS NOT NULL", [(m.chat_id,) for m in new])
        return Accepted(tuple(new), tuple(refuse))

    def chats_with_open_work(self) -> list[int]:
        with self._read() as db:
            rows = db.execute(
                "SELECT DISTINCT chat_id FROM messages WHERE done_at IS NULL "
                "UNION SELECT DISTINCT chat_id FROM answers WHERE state = 'pending'")
            return sorted(row[0] for row in rows)

    # --- chat side -------------------------------------------------------------------

    def open_work(self, chat_id: int, received_at: float) -> ChatWork:
        """What `chat_id` is still owed, oldest first (`received_at` stamps the messages)."""
        self._flush_acks()
        with self._read() as db:
            answers = tuple(
                PendingAnswer(update_id, reply_to, Answer.from_json(raw), parts_sent)
                for update_id, reply_to, raw, parts_sent in db.execute(
                    "SELECT a.update_id, m.message_id, a.answer, a.parts_sent FROM answers a "
                    "JOIN messages m USING (update_id) WHERE a.chat_id = ? AND "
                    "a.state = 'pending' ORDER BY a.update_id", (chat_id,)))
            rows = db.execute(
                "SELECT update_id, message_id, user_id, text, acked_at IS NOT NULL, run, "
                "media, sender_name FROM messages "
                f"WHERE chat_id = ? AND done_at IS NULL AND state IN {_OPEN_SQL} "
                "ORDER BY update_id", (chat_id,)).fetchall()
            session = db.execute("SELECT session_id FROM chats WHERE chat_id = ?",
                                 (chat_id,)).fetchone()
        messages = tuple(
            OpenMessage(IncomingMessage(update_id, chat_id, message_id, user_id, text,
                                        received_at, *_media(media), sender_name=sender),
                        bool(acked))
            for update_id, message_id, user_id, text, acked, _, media, sender in rows)
        carried = sum(1 for *_, run, _, _ in rows if run < self.run)
        return ChatWork(chat_id, answers, messages, session[0] if session else None, carried)

    def edit_text(self, update_id: int, text: str | None) -> bool:
        """The user edited a message no brain has taken yet: it runs with `text`.
        False if it is no longer waiting (taken, answered)."""
        with self._tx() as db:
            return bool(db.execute(
                "UPDATE messages SET text = ? WHERE update_id = ? AND state IN "
                "('accepted', 'acknowledged')", (text, update_id)).rowcount)

    def has_message(self, chat_id: int, message_id: int) -> bool:
        """The journal holds this Telegram message (admitted once, not yet pruned)."""
        with self._read() as db:
            return db.execute("SELECT 1 FROM messages WHERE chat_id = ? AND message_id = ? "
                              "LIMIT 1", (chat_id, message_id)).fetchone() is not None

    def state_of(self, update_id: int) -> MessageState | None:
        self._flush_acks()
        with self._read() as db:
            row = db.execute("SELECT state FROM messages WHERE update_id = ?",
                             (update_id,)).fetchone()
            return MessageState(row[0]) if row else None

    def owed(self, chat_id: int) -> list[int]:
        """Update ids this chat is still owed something for: an answer, or its delivery."""
        with self._read() as db:
            return [row[0] for row in db.execute(
                "SELECT update_id FROM messages WHERE chat_id = ? AND done_at IS NULL UNION "
                "SELECT update_id FROM answers WHERE chat_id = ? AND state = 'pending' "
                "ORDER BY 1", (chat_id, chat_id))]

    def still_owed(self, update_id: int) -> bool:
        """The message still waits for its answer, or for the answer's delivery."""
        with self._read() as db:
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE update_id = ? AND done_at IS NULL)"
                " OR EXISTS (SELECT 1 FROM answers WHERE update_id = ? AND state = 'pending')",
                (update_id, update_id)).fetchone()
            return bool(row[0])

    def has_open_work(self, chat_id: int) -> bool:
        with self._read() as db:
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE chat_id = ? AND done_at IS NULL)"
                " OR EXISTS (SELECT 1 FROM answers WHERE chat_id = ? AND state = 'pending')",
                (chat_id, chat_id)).fetchone()
            return bool(row[0])

    def told_restart(self, chat_id: int) -> None:
        """The user heard that we restarted: their open messages belong to this run now."""
        with self._tx() as db:
            db.execute("UPDATE messages SET run = ? WHERE chat_id = ? AND done_at IS NULL",
                       (self.run, chat_id))

    def mark_acked(self, update_id: int) -> None:
        """Telegram took the message's 👀 (so a replay does not send it again).

        Written with the next transaction rather than in one of its own: a 👀 mark lost
        to a crash only means the 👀 is set once more after the restart, which Telegram
        treats as the same reaction, and a commit per 👀 would halve ingest.
        """
        with self._lock:
            self._acks.append((update_id, self._wall()))
            if len(self._acks) < ACKS_PER_COMMIT:
                return
        with self._tx():
            pass  # _tx writes the pending marks first

    def reply(self, update_id: int, answer: Answer) -> None:
        """Store wakeful's own answer to a message that needs no brain."""
        with self._tx() as db:
            self._store(db, update_id, answer)

    def part_sent(self, update_id: int, index: int, message_id: int | None) -> None:
        """Telegram took part `index` (0-based) of this message's answer."""
        with self._tx() as db:
            row = db.execute("SELECT message_ids FROM answers WHERE update_id = ?",
                             (update_id,)).fetchone()
            if row is None:
                return
            ids = json.loads(row[0])
            ids.append(message_id)
            db.execute("UPDATE answers SET parts_sent = MAX(parts_sent, ?), message_ids = ? "
                       "WHERE update_id = ?", (index + 1, json.dumps(ids), update_id))

    def answer_delivered(self, update_id: int) -> None:
        with self._tx() as db:
            now = self._wall()
            db.execute("UPDATE answers SET state = 'delivered', done_at = ? WHERE update_id = ?"
                       " AND state = 'pending'", (now, update_id))
            db.execute(
                "UPDATE chats SET last_answered = MAX(COALESCE(last_answered, 0), ?) WHERE "
                "chat_id = (SELECT chat_id FROM messages WHERE update_id = ?)",
                (update_id, update_id))

    def answer_undeliverable(self, update_id: int, reason: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE answers SET state = 'undeliverable', done_at = ?, failure = ? "
                       "WHERE update_id = ? AND state = 'pending'",
                       (self._wall(), reason, update_id))

    def chat_gone(self, chat_id: int, reason: str) -> list[int]:
        """Telegram will not take messages for this chat (blocked, kicked, deleted).

        Its pending answers become undeliverable and its open messages fail; returns
        the update_ids of the messages that were still open.
        """
        now = self._wall()
        with self._tx() as db:
            open_ids = [row[0] for row in db.execute(
                "SELECT update_id FROM messages WHERE chat_id = ? AND done_at IS NULL",
                (chat_id,))]
            db.execute("UPDATE answers SET state = 'undeliverable', done_at = ?, failure = ? "
                       "WHERE chat_id = ? AND state = 'pending'", (now, reason, chat_id))
            db.execute("UPDATE messages SET state = 'failed', done_at = ?, owner_run = NULL, "
                       "owner_gen = NULL WHERE chat_id = ? AND done_at IS NULL",
                       (now, chat_id))
            _ensure_chat(db, chat_id)
            db.execute("UPDATE chats SET gone = ? WHERE chat_id = ?", (reason, chat_id))
        return open_ids

    def session(self, chat_id: int) -> str | None:
        with self._read() as db:
            row = db.execute("SELECT session_id FROM chats WHERE chat_id = ?",
                             (chat_id,)).fetchone()
            return row[0] if row else None

    def chat_totals(self, chat_id: int) -> dict[str, Any]:
        """Turns, failures and cost so far (for state dumps and budgets)."""
        with self._read() as db:
            row = db.execute("SELECT turns, failed, cost_usd, last_answered, gone FROM chats "
                             "WHERE chat_id = ?", (chat_id,)).fetchone()
        keys = ("turns", "failed", "cost_usd", "last_answered", "gone")
        return dict(zip(keys, row or (0, 0, 0.0, None, None), strict=True))

    def spent_today(self, chat_id: int, now_wall: float) -> float:
        """USD spent by this chat's turns that finished on the UTC day of `now_wall`."""
        with self._read() as db:
            row = db.execute("SELECT cost_usd FROM spending WHERE chat_id = ? AND day = ?",
                             (chat_id, utc_day(now_wall))).fetchone()
        return float(row[0]) if row else 0.0

    def chat_mode(self, chat_id: int) -> str | None:
        """The queue mode /mode set for this chat; None: it never did (the default holds)."""
        with self._read() as db:
            row = db.execute("SELECT mode FROM chats WHERE chat_id = ?", (chat_id,)).fetchone()
            return row[0] if row else None

    def set_chat_mode(self, chat_id: int, mode: str) -> None:
        with self._tx() as db:
            _ensure_chat(db, chat_id)
            db.execute("UPDATE chats SET mode = ? WHERE chat_id = ?", (mode, chat_id))

    def granted_tools(self, chat_id: int) -> frozenset[str]:
        """Tools someone allowed "always in this chat" (tool approvals)."""
        with self._read() as db:
            rows = db.execute("SELECT tool FROM tool_grants WHERE chat_id = ?", (chat_id,))
            return frozenset(row[0] for row in rows)

    def grant_tool(self, chat_id: int, tool: str, at: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO tool_grants (chat_id, tool, granted_at) "
                       "VALUES (?, ?, ?)", (chat_id, tool, at))

    def revoke_tool(self, chat_id: int, tool: str) -> bool:
        """Take back one "always" grant (/tools revoke); False: there was none."""
        with self._tx() as db:
            return db.execute("DELETE FROM tool_grants WHERE chat_id = ? AND tool = ?",
                              (chat_id, tool)).rowcount > 0

    def revoke_all_tools(self, chat_id: int) -> int:
        """Take back every "always" grant of the chat; how many there were."""
        with self._tx() as db:
            return int(db.execute("DELETE FROM tool_grants WHERE chat_id = ?",
                                  (chat_id,)).rowcount)

    def set_session(self, chat_id: int, session_id: str | None) -> None:
        with self._tx() as db:
            _ensure_chat(db, chat_id)
            db.execute("UPDATE chats SET session_id = ? WHERE chat_id = ?", (session_id, chat_id))

    # --- brain pool side -------------------------------------------------------------

    def reclaim_turns(self, generation: int) -> list[LeftoverBrain]:
        """Take back every turn an older owner (an earlier pool, or an earlier run) held.

        Those rows go back to acknowledged, so they run again; the brains they name are
        returned for the caller to kill before anything re-runs (one owner per turn).
        """
        with self._tx() as db:
            rows = db.execute(
                "SELECT update_id, brain_pid, brain_start FROM messages WHERE state = "
                "'in_turn' AND (owner_run < ? OR (owner_run = ? AND owner_gen < ?))",
                (self.run, self.run, generation)).fetchall()
            db.executemany(
                f"UPDATE messages SET state = {_BACK_TO_OPEN}, owner_run = NULL, owner_gen = NULL,"
                " brain_pid = NULL, brain_start = NULL WHERE update_id = ?",
                [(row[0],) for row in rows])
        return [LeftoverBrain(u, pid, start) for u, pid, start in rows if pid is not None]

    def begin_turn(self, update_id: int, generation: int) -> Claim:
        """Claim a message for the pool of `generation`; never two owners at once."""
        with self._tx() as db:
            row = db.execute("SELECT state, owner_run, owner_gen FROM messages WHERE "
                             "update_id = ?", (update_id,)).fetchone()
            if row is None:
                return Claim(False)
            state, owner_run, owner_gen = row
            if state in ("accepted", "acknowledged") or (
                    state == "in_turn" and (owner_run, owner_gen) == (self.run, generation)):
                db.execute("UPDATE messages SET state = 'in_turn', turn_at = COALESCE(turn_at, ?),"
                           " owner_run = ?, owner_gen = ? WHERE update_id = ?",
                           (self._wall(), self.run, generation, update_id))
                return Claim(True)
            if state == "in_turn":
                return Claim(False)
            stored = db.execute("SELECT answer FROM answers WHERE update_id = ?",
                                (update_id,)).fetchone()
            return Claim(False, Answer.from_json(stored[0]) if stored else None)

    def brain_started(self, update_id: int, generation: int, pid: int,
                      start_time: int | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET brain_pid = ?, brain_start = ? WHERE update_id = ? "
                       "AND state = 'in_turn' AND owner_run = ? AND owner_gen = ?",
                       (pid, start_time, update_id, self.run, generation))

    def release_turn(self, update_id: int, generation: int) -> None:
        """Give a claimed message back unanswered (the service is stopping): it runs again."""
        with self._tx() as db:
            db.execute(f"UPDATE messages SET state = {_BACK_TO_OPEN}, owner_run = NULL, "
                       "owner_gen = NULL, brain_pid = NULL, brain_start = NULL "
                       "WHERE update_id = ? AND state = 'in_turn' AND owner_run = ? "
                       "AND owner_gen = ?", (update_id, self.run, generation))

    def finish_turn(
        self,
        update_id: int,
        generation: int,
        answer: Answer,
        session_id: str | None = None,
        cost_usd: float | None = None,
        also: tuple[int, ...] = (),
    ) -> bool:
        """Store a turn's answer, before anyone sends it. False if `generation` no
        longer owns the message (a fenced pool's late result is discarded).

        `also`: the chat's other messages this answer answers (merged into the prompt,
        or follow-ups the brain took): each gets AnswerKind.NONE in the same
        transaction, so none is run again after a crash. One already finished (or
        another owner's) is left as it is."""
        with self._tx() as db:
            row = db.execute("SELECT chat_id, state, owner_run, owner_gen FROM messages WHERE "
                             "update_id = ?", (update_id,)).fetchone()
            if row is None or row[1] != "in_turn" or (row[2], row[3]) != (self.run, generation):
                return False
            chat_id = row[0]
            self._store(db, update_id, answer)
            for other in also:
                other_row = db.execute("SELECT chat_id, state, owner_run, owner_gen FROM "
                                       "messages WHERE update_id = ?", (other,)).fetchone()
                if other_row is None or other_row[0] != chat_id or other_row[1] not in (
                        "accepted", "acknowledged", "in_turn"):
                    continue
                if other_row[1] == "in_turn" and (other_row[2], other_row[3]) != (
                        self.run, generation):
                    continue
                self._store(db, other, Answer(AnswerKind.NONE))
            _ensure_chat(db, chat_id)
            # Keep the session the CLI reported, not the one we passed: a resume may hand
            # back a new id. None means the run started no session: the old one holds.
            if answer.session_reset:
                db.execute("UPDATE chats SET session_id = NULL WHERE chat_id = ?", (chat_id,))
            elif session_id:
                db.execute("UPDATE chats SET session_id = ? WHERE chat_id = ?",
                           (session_id, chat_id))
            db.execute("UPDATE chats SET turns = turns + 1, failed = failed + ?, "
                       "cost_usd = cost_usd + ? WHERE chat_id = ?",
                       (answer.kind is AnswerKind.FAILED, cost_usd or 0.0, chat_id))
            if cost_usd:
                # Booked on the day the turn finished: what daily budgets count.
                db.execute("INSERT INTO spending (chat_id, day, cost_usd) VALUES (?, ?, ?) "
                           "ON CONFLICT (chat_id, day) DO UPDATE SET cost_usd = "
                           "cost_usd + excluded.cost_usd",
                           (chat_id, utc_day(self._wall()), cost_usd))
            return True

    def stored_answer(self, update_id: int) -> Answer | None:
        with self._read() as db:
            row = db.execute("SELECT answer FROM answers WHERE update_id = ?",
                             (update_id,)).fetchone()
            return Answer.from_json(row[0]) if row else None

    def running_brains(self) -> list[LeftoverBrain]:
        with self._read() as db:
            return [LeftoverBrain(u, pid, start) for u, pid, start in db.execute(
                "SELECT update_id, brain_pid, brain_start FROM messages WHERE state = "
                "'in_turn' AND brain_pid IS NOT NULL")]

    # --- retention and inspection ----------------------------------------------------

    def prune(self, older_than: float, limit: int = 500) -> int:
        """Delete up to `limit` finished messages (and their delivered answers) whose end
        is older than `older_than` (unix time); returns how many went. Small batches,
        so the writer lock is never held for long."""
        with self._tx() as db:
            ids = [(row[0],) for row in db.execute(
                "SELECT update_id FROM messages WHERE done_at IS NOT NULL AND done_at < ? AND "
                "NOT EXISTS (SELECT 1 FROM answers a WHERE a.update_id = messages.update_id "
                "AND a.state = 'pending') LIMIT ?", (older_than, limit))]
            db.executemany("DELETE FROM messages WHERE update_id = ?", ids)
            # Spending older than the retention matters to no budget (one row a chat a day).
            db.execute("DELETE FROM spending WHERE day < ?", (utc_day(older_than),))
        return len(ids)

    def prune_refusals(self, older_than: float, keep_at_most: int = MAX_REFUSALS_KEPT) -> int:
        """Forget refusal times that no longer matter (older than one refusal window), and
        the oldest beyond `keep_at_most`; returns how many went."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM refusals WHERE at < ?", (older_than,)).rowcount
            count = db.execute("SELECT COUNT(*) FROM refusals").fetchone()[0]
            if count > keep_at_most:
                gone += db.execute(
                    "DELETE FROM refusals WHERE (chat_id, user_id) IN (SELECT chat_id, user_id "
                    "FROM refusals ORDER BY at LIMIT ?)", (count - keep_at_most,)).rowcount
            return int(gone)

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file so the file on disk stays small."""
        with self._read() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def summary(self) -> dict[str, Any]:
        with self._read() as db:
            states = dict(db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state"))
            answers = dict(db.execute("SELECT state, COUNT(*) FROM answers GROUP BY state"))
            refusals = db.execute("SELECT COUNT(*) FROM refusals").fetchone()[0]
            chats = db.execute("SELECT COUNT(*) FROM chats").fetchone()[0]
            offset = _meta(db, "offset")
        return {
            "path": self.path,
            "run": self.run,
            "offset": offset,
            "messages": states,
            "answers": answers,
            "chats": chats,
            "refusals_kept": refusals,
            "bytes": self.size_bytes(),
        }

    def size_bytes(self) -> int:
        if self.path == ":memory:":
            with self._read() as db:
                pages = db.execute("PRAGMA page_count").fetchone()[0]
                size = db.execute("PRAGMA page_size").fetchone()[0]
                return int(pages * size)
        return sum(os.path.getsize(p) for p in (self.path, f"{self.path}-wal")
                   if os.path.exists(p))

    # --- internals -------------------------------------------------------------------

    def _store(self, db: sqlite3.Connection, update_id: int, answer: Answer) -> None:
        now = self._wall()
        db.execute("UPDATE messages SET state = ?, done_at = ?, owner_run = NULL, "
                   "owner_gen = NULL, brain_pid = NULL, brain_start = NULL WHERE update_id = ?",
                   (answer.kind.final_state.value, now, update_id))
        state = "delivered" if answer.kind is AnswerKind.NONE else "pending"
        db.execute("INSERT OR REPLACE INTO answers (update_id, chat_id, answer, state, "
                   "stored_at, done_at) SELECT update_id, chat_id, ?, ?, ?, ? FROM messages "
                   "WHERE update_id = ?",
                   (answer.to_json(), state, now, now if state == "delivered" else None,
                    update_id))


def utc_day(wall: float) -> str:
    """The UTC date of a unix time, as the spending table keys it (YYYY-MM-DD)."""
    return time.strftime("%Y-%m-%d", time.gmtime(wall))


def _media_json(message: IncomingMessage) -> str | None:
    if not message.attachments and message.unsupported is None:
        return None
    return json.dumps({"attachments": [asdict(a) for a in message.attachments],
                       "unsupported": message.unsupported})


def _media(raw: str | None) -> tuple[tuple[Attachment, ...], str | None]:
    if not raw:
        return (), None
    media = json.loads(raw)
    return (tuple(Attachment(**a) for a in media.get("attachments", ())),
            media.get("unsupported"))


def _meta(db: sqlite3.Connection, key: str) -> Any:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
               "SET value = excluded.value", (key, value))


def _ensure_chat(db: sqlite3.Connection, chat_id: int) -> None:
    db.execute("INSERT OR IGNORE INTO chats (chat_id) VALUES (?)", (chat_id,))


__all__ = ["Journal", "JournalConfig", "JournalError"]
