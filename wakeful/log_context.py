"""The chat the running code works for, so that every log line can name it (logs.py).

The actor base class (supervision/supervised.py) sets it as it takes each message,
to the chat the message concerns; the log filter reads it when a line is emitted.
So whatever runs below a handler (the journal, the runner, a library) logs with the
chat, and no call site passes it along.

A ContextVar: each thread (each actor) has its own, and so does each asyncio task.
"""

from __future__ import annotations

from contextvars import ContextVar

_chat: ContextVar[int | None] = ContextVar("wakeful_chat", default=None)


def current_chat() -> int | None:
    return _chat.get()


def working_for(chat_id: int | None) -> None:
    """From here on, this thread's lines concern `chat_id` (None: no chat in particular)."""
    # Set only on a change: a chat's actor takes message after message of the same chat,
    # and a set allocates its undo token.
    if _chat.get() != chat_id:
        _chat.set(chat_id)
