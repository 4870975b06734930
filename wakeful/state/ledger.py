"""What each chat has received but not yet answered, held outside the actors.

An actor that crashes or wedges loses its memory; the ledger does not. The poller
writes every message here *before* confirming its update offset, and a chat actor
removes a message only once its reply is sent. A replacement chat actor therefore
starts from exactly what its predecessor still owed. This in-memory version has the
interface the SQLite journal will implement.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from wakeful.messages import IncomingMessage


@dataclass
class _ChatRecord:
    pending: OrderedDict[int, IncomingMessage] = field(default_factory=OrderedDict)
    acked: set[int] = field(default_factory=set)
    session_id: str | None = None
    answered: int = 0


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chats: dict[int, _ChatRecord] = {}
        self._seen_updates: set[int] = set()
        self._offset: int | None = None

    # --- poller side -----------------------------------------------------------------

    def record(self, message: IncomingMessage) -> bool:
        """Store a message; False if this update was already stored (a re-delivery).

        Ids below the confirmed offset were stored before the offset moved past them,
        so a replaced poller's late batch can never store them a second time.
        """
        with self._lock:
            if message.update_id in self._seen_updates or (
                self._offset is not None and message.update_id < self._offset
            ):
                return False
            self._seen_updates.add(message.update_id)
            self._chats.setdefault(message.chat_id, _ChatRecord()).pending[
                message.update_id
            ] = message
            return True

    def confirm_offset(self, next_offset: int) -> None:
        """Remember the next getUpdates offset; only ever moves forward."""
        with self._lock:
            if self._offset is None or next_offset > self._offset:
                self._offset = next_offset
            # Ids below the confirmed offset can never be re-delivered: forget them.
            self._seen_updates = {u for u in self._seen_updates if u >= self._offset}

    @property
    def offset(self) -> int | None:
        with self._lock:
            return self._offset

    # --- chat side -------------------------------------------------------------------

    def pending(self, chat_id: int) -> list[IncomingMessage]:
        with self._lock:
            record = self._chats.get(chat_id)
            return [] if record is None else list(record.pending.values())

    def is_pending(self, chat_id: int, update_id: int) -> bool:
        with self._lock:
            record = self._chats.get(chat_id)
            return record is not None and update_id in record.pending

    def owed_chats(self) -> list[int]:
        """Chats with messages received but not answered (for a restarted chats supervisor)."""
        with self._lock:
            return [chat_id for chat_id, record in self._chats.items() if record.pending]

    def mark_acked(self, chat_id: int, update_id: int) -> bool:
        """True the first time only, so a replacement actor does not re-ack."""
        with self._lock:
            record = self._chats.setdefault(chat_id, _ChatRecord())
            if update_id in record.acked:
                return False
            record.acked.add(update_id)
            return True

    def answered(self, chat_id: int, update_id: int) -> None:
        with self._lock:
            record = self._chats.get(chat_id)
            if record is not None and record.pending.pop(update_id, None) is not None:
                record.acked.discard(update_id)
                record.answered += 1

    def session(self, chat_id: int) -> str | None:
        with self._lock:
            record = self._chats.get(chat_id)
            return None if record is None else record.session_id

    def set_session(self, chat_id: int, session_id: str | None) -> None:
        with self._lock:
            self._chats.setdefault(chat_id, _ChatRecord()).session_id = session_id

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {
                "chats": len(self._chats),
                "pending": sum(len(r.pending) for r in self._chats.values()),
                "answered": sum(r.answered for r in self._chats.values()),
            }
