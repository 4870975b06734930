"""A python-telegram-bot bot as an expert writes it: a per-chat, capped update processor.

Models: a PTB v22 `Application` given a custom `BaseUpdateProcessor` through
`.concurrent_updates(processor)`. The processor reacts 👀 at once, then runs the update
under an `asyncio.Lock` of its chat (created on demand, dropped when idle), so a chat's
messages are answered one at a time, in order; the handler runs the brain CLI under a
global `asyncio.Semaphore(ALT_CAP)` with "typing" every 4 s, and replies.

Slots and locks: PTB's `process_update` holds one of `max_concurrent_updates` slots for
the whole of `do_process_update`, so an update waiting for its chat's lock holds a slot.
No deadlock (the lock's holder has a slot too; locks are always taken slot, chat lock,
brain semaphore), but starvation: with few slots (say ALT_CAP) one chat's backlog fills
them all with waiters on one lock, and every other chat, 👀 included, waits behind it.
So the slots are no cap here (MAX_PENDING is only a guard: PTB makes every fetched
update a task anyway); the cap is the brain semaphore, which only the turn at the head
of a chat asks for. The 👀 is a task started before the lock is asked for (an awaited
reaction would let a chat's updates reach the lock out of order); the turn awaits it.

Known weakness: all in memory. PTB confirms updates as it fetches them, so messages
waiting for their chat or a brain are lost on a crash (dropped unanswered on a stop); a
backlog costs one brain turn per message; past MAX_PENDING waiting updates the
starvation above comes back.

Configuration only from the environment (see `alternative()` in
benchmarks/storms/contenders.py): ALT_BASE_URL, ALT_TOKEN, ALT_USER_IDS, ALT_BRAIN,
ALT_BRAIN_ENV, ALT_CAP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from common import BASE_URL, TOKEN, USER_IDS, brain_turn, cap, stop_on_signals
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    MessageHandler,
    filters,
)

BRAIN_SLOTS = asyncio.Semaphore(cap())
MAX_PENDING = 10_000  # updates in do_process_update at once: a guard, not the cap
ALLOWED_TEXT = filters.TEXT & ~filters.COMMAND & filters.User(user_id=USER_IDS)


class PerChatProcessor(BaseUpdateProcessor):
    """Acknowledges at once, then one update at a time per chat, in order of arrival."""

    def __init__(self) -> None:
        super().__init__(max_concurrent_updates=MAX_PENDING)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # chat id -> updates holding or awaiting its lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or update.effective_chat is None:
            await coroutine
            return
        chat_id = update.effective_chat.id
        ack = asyncio.create_task(acknowledge(update))
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:  # FIFO: taken here without a yield, or queued in order
                await ack
                await coroutine
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:
                del self._users[chat_id], self._locks[chat_id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def acknowledge(update: Update) -> None:
    if update.effective_message and ALLOWED_TEXT.check_update(update):
        with contextlib.suppress(TelegramError):  # a lost 👀 must not lose the answer
            await update.effective_message.set_reaction("👀")


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs holding its chat's lock; the 👀 is already there."""
    message = update.effective_message
    if message is None or not message.text:
        return
    await brain_turn(message, message.text, BRAIN_SLOTS)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app = (ApplicationBuilder().base_url(BASE_URL).token(TOKEN)
           .concurrent_updates(PerChatProcessor()).post_init(stop_on_signals).build())
    app.add_handler(MessageHandler(ALLOWED_TEXT, on_text))
    # Our own signal handler (post_init) instead of PTB's stop_signals, which would wait
    # for every running and queued brain before exiting.
    app.run_polling(stop_signals=None)


if __name__ == "__main__":
    main()
