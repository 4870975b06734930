"""Simulated Telegram users: they type into the local Bot API server, faster than brains answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from wakeful.testing.bot_api import BotApiCore


@dataclass(frozen=True)
class UserMessage:
    chat_id: int
    message_id: int
    text: str
    sent_at: float  # time.monotonic(), the same clock the local server stamps with


class SimulatedUsers:
    """Round-robin over chats: message 1 in every chat, then message 2, ..."""

    def __init__(self, core: BotApiCore, chat_ids: list[int], per_chat: int, gap: float,
                 text: str = "message {n} from chat {chat}") -> None:
        self._core = core
        self._chat_ids = chat_ids
        self._per_chat = per_chat
        self._gap = gap
        self._text = text
        self._lock = threading.Lock()
        self._sent: list[UserMessage] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-users", daemon=True)

    @property
    def total(self) -> int:
        return len(self._chat_ids) * self._per_chat

    def start(self) -> SimulatedUsers:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def sent(self) -> list[UserMessage]:
        with self._lock:
            return list(self._sent)

    def _run(self) -> None:
        """Executed on the simulated users' own thread."""
        for n in range(1, self._per_chat + 1):
            for chat in self._chat_ids:
                text = self._text.format(n=n, chat=chat)
                update = self._core.inject_text(chat, text, user_id=chat)
                message = UserMessage(chat, update["message"]["message_id"], text,
                                      time.monotonic())
                with self._lock:
                    self._sent.append(message)
            if n < self._per_chat:
                time.sleep(self._gap)
        self._done.set()
