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
import json
import logging
import os
import signal
from datetime import timedelta

from telegram import Chat, Message, Update
from telegram.constants import ChatAction
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

USER_IDS = [int(u) for u in os.environ["ALT_USER_IDS"].split(",") if u.strip()]
BRAIN: list[str] = json.loads(os.environ["ALT_BRAIN"])
BRAIN_ENV: dict[str, str] = {"PATH": os.environ.get("PATH", os.defpath),
                             **json.loads(os.environ["ALT_BRAIN_ENV"])}
BRAIN_SLOTS = asyncio.Semaphore(int(os.environ["ALT_CAP"]))
TYPING_EVERY = 4.0  # Telegram shows "typing" for about 5 s
REPLY_ATTEMPTS = 5

RUNNING: set[asyncio.subprocess.Process] = set()  # brains to kill on shutdown
STOPPING = asyncio.Event()


async def ask_brain(prompt: str) -> str | None:
    """The brain's answer: the "result" of its stream-json "result" line (None: none)."""
    proc = await asyncio.create_subprocess_exec(
        *BRAIN, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=BRAIN_ENV)
    RUNNING.add(proc)
    if STOPPING.is_set():  # the signal came while it was starting
        proc.kill()
    try:
        out, _ = await proc.communicate(prompt.encode())
    finally:
        RUNNING.discard(proc)
    for line in out.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("type") == "result":
                return str(event.get("result") or "")
    return None


async def keep_typing(chat: Chat) -> None:
    while True:
        with contextlib.suppress(TelegramError):
            await chat.send_action(ChatAction.TYPING)
        await asyncio.sleep(TYPING_EVERY)


async def reply(message: Message, text: str) -> None:
    """Reply to `message` (quoting it, private chat or not); on 429 wait and try again."""
    for _ in range(REPLY_ATTEMPTS):
        try:
            await message.reply_text(text, do_quote=True)
            return
        except RetryAfter as exc:
            wait = exc.retry_after
            await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else wait)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    with contextlib.suppress(TelegramError):  # a lost 👀 must not lose the answer
        await message.set_reaction("👀")
    async with BRAIN_SLOTS:
        if STOPPING.is_set():
            return
        typing = asyncio.create_task(keep_typing(message.chat))
        try:
            answer = await ask_brain(message.text)
        finally:
            typing.cancel()
    if STOPPING.is_set():
        return
    await reply(message, answer or "(the brain gave no answer)")


def on_stop_signal(app: Application) -> None:
    """Kill the brains now: Application.stop() waits for every handler to finish."""
    STOPPING.set()
    for proc in list(RUNNING):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    app.stop_running()


async def post_init(app: Application) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop_signal, app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app = (ApplicationBuilder().base_url(os.environ["ALT_BASE_URL"])
           .token(os.environ["ALT_TOKEN"]).concurrent_updates(True).post_init(post_init)
           .build())
    app.add_handler(MessageHandler(
        filters.TEXT & ~filters.COMMAND & filters.User(user_id=USER_IDS), on_text))
    # Our own signal handler (post_init) instead of PTB's stop_signals, which would wait
    # for every running and queued brain before exiting.
    app.run_polling(stop_signals=None)


if __name__ == "__main__":
    main()
