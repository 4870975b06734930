"""A Telegram gateway and a journal that can be told to wedge or fail one call: faults at the edges.

Production code is untouched: the Service accepts any TelegramGateway, and this one
only adds faults in front of the real calls.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import deque
from typing import Any

from tests.supervision.harness import HANG_GUARD
from wakeful.bots.gateway import TelegramGateway
from wakeful.config import Config
from wakeful.delivery.calls import Call, EditText, React, SendDraft, SendText, Typing
from wakeful.state.journal import Journal


class Wedge:
    """A call that blocks its caller's thread until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()

    def hold(self) -> None:
        """Executed on the wedged caller's thread (an actor's)."""
        self.entered.set()
        self._released.wait(HANG_GUARD * 4)

    def release(self) -> None:
        self._released.set()


class Boom(RuntimeError):
    """The fault a failing call raises."""


# The names tests use for the calls they fault, as the Bot API's methods go.
_METHODS: dict[type, str] = {React: "react", SendText: "send_message", EditText: "edit_message",
                             Typing: "send_typing", SendDraft: "send_draft"}


class FaultyGateway(TelegramGateway):
    @classmethod
    def for_config(cls, config: Config) -> FaultyGateway:
        return cls(config.require_token(), config.telegram.base_url,
                   config.telegram.poll_timeout)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, int | None], deque[Wedge | Boom]] = {}
        self.wedges: list[Wedge] = []

    def wedge_next(self, method: str, chat_id: int | None = None) -> Wedge:
        wedge = Wedge()
        with self._lock:
            self._faults.setdefault((method, chat_id), deque()).append(wedge)
            self.wedges.append(wedge)
        return wedge

    def fail_next(self, method: str, chat_id: int | None = None) -> None:
        with self._lock:
            self._faults.setdefault((method, chat_id), deque()).append(
                Boom(f"{method} failed on purpose"))

    def release_all(self) -> None:
        for wedge in self.wedges:
            wedge.release()

    # --- the calls actors make (executed on the calling actor's thread) ---------------

    # Faults strike after the real call is on its way, like a thread that hangs on the
    # way back: what an unwedged caller does *next* is what fencing must stop.

    def call(self, call: Call) -> concurrent.futures.Future[int | None]:
        future = super().call(call)
        self._inject(_METHODS[type(call)], call.chat_id)
        return future

    def get_updates(self, offset: int | None) -> concurrent.futures.Future[list[dict[str, Any]]]:
        future = super().get_updates(offset)
        self._inject("get_updates", None)
        return future

    def _inject(self, method: str, chat_id: int | None) -> None:
        with self._lock:
            queue = self._faults.get((method, chat_id))
            fault = queue.popleft() if queue else None
        if isinstance(fault, Wedge):
            fault.hold()
        elif fault is not None:
            raise fault


class FaultyJournal(Journal):
    """The real journal, with faults on the way into (or out of) a chosen method.

    `before`: the call never reaches SQLite (nothing committed). `after`: the call is
    committed, then the caller's thread hangs or raises, as if it died right after.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fault_lock = threading.Lock()
        self._faults: dict[tuple[str, str], deque[Wedge | Boom]] = {}
        self.wedges: list[Wedge] = []

    def wedge_next(self, method: str, when: str = "before") -> Wedge:
        wedge = Wedge()
        with self._fault_lock:
            self._faults.setdefault((method, when), deque()).append(wedge)
            self.wedges.append(wedge)
        return wedge

    def fail_next(self, method: str, when: str = "before") -> None:
        with self._fault_lock:
            self._faults.setdefault((method, when), deque()).append(
                Boom(f"{method} failed on purpose ({when} its commit)"))

    def release_all(self) -> None:
        for wedge in self.wedges:
            wedge.release()

    def accept_batch(self, *args: Any, **kwargs: Any) -> Any:
        self._inject("accept_batch", "before")
        result = super().accept_batch(*args, **kwargs)
        self._inject("accept_batch", "after")
        return result

    def has_open_work(self, chat_id: int) -> bool:
        self._inject("has_open_work", "before")
        return super().has_open_work(chat_id)

    def session(self, chat_id: int) -> str | None:
        # A chat actor reads it just before it asks for a turn: a fault here strikes
        # the chat actor's own thread in the middle of handling a message.
        self._inject(f"session:{chat_id}", "before")
        return super().session(chat_id)

    def _inject(self, method: str, when: str) -> None:
        with self._fault_lock:
            queue = self._faults.get((method, when))
            fault = queue.popleft() if queue else None
        if isinstance(fault, Wedge):
            fault.hold()
        elif fault is not None:
            raise fault
