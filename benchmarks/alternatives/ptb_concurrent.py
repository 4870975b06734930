"""A python-telegram-bot bot as its users write it first: `concurrent_updates(True)`.

Models: a PTB v22 `Application` built with `.concurrent_updates(True)` (every update is
its own task, up to 256 at once) and one MessageHandler for text from allowed users. It
reacts 👀, waits for one of ALT_CAP brain slots (an `asyncio.Semaphore`), runs the brain
CLI as an asyncio subprocess while sending "typing" every 4 s, and replies to the message.

Known weakness: nothing orders a chat's messages. Its updates are independent tasks that
race for the semaphore and the network, so a chat's later message can be answered before
an earlier one, and two turns of one chat can run side by side without seeing each other.

Configuration only from the environment (see `alternative()` in
benchmarks/storms/contenders.py): ALT_BASE_URL, ALT_TOKEN, ALT_USER_IDS, ALT_BRAIN,
ALT_BRAIN_ENV, ALT_CAP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common import BASE_URL, TOKEN, USER_IDS, brain_turn, cap, stop_on_signals
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

BRAIN_SLOTS = asyncio.Semaphore(cap())


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs as its own task, beside every other update: nothing orders a chat's turns."""
    message = update.effective_message
    if message is None or not message.text:
        return
    with contextlib.suppress(TelegramError):  # a lost 👀 must not lose the answer
        await message.set_reaction("👀")
    await brain_turn(message, message.text, BRAIN_SLOTS)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app = (ApplicationBuilder().base_url(BASE_URL).token(TOKEN)
           .concurrent_updates(True).post_init(stop_on_signals).build())
    app.add_handler(MessageHandler(
        filters.TEXT & ~filters.COMMAND & filters.User(user_id=USER_IDS), on_text))
    # Our own signal handler (post_init) instead of PTB's stop_signals, which would wait
    # for every running and queued brain before exiting.
    app.run_polling(stop_signals=None)


if __name__ == "__main__":
    main()
