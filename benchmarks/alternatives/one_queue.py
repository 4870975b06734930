"""One queue: a poll loop that only acknowledges, and one worker for every chat.

Models Kōan's dedicated chat process (seed 003): the poll loop reacts 👀 at once and
appends each message to a single inbox; one worker takes the messages one at a time, runs
the brain (with "typing" while it works) and replies. Here the inbox is a queue.Queue and
the worker a thread, as in Kōan's fallback; the poll loop never waits for a brain.

Known weakness: one worker for all chats. The bot stays responsive (👀 at once), but the
answers come one brain after another, so a busy chat, or many chats at once, make every
other chat wait behind them: the last answer comes after the sum of all the brains.

Configuration comes from the environment (see `alternative()` in
benchmarks/storms/contenders.py): ALT_BASE_URL, ALT_TOKEN, ALT_USER_IDS, ALT_BRAIN,
ALT_BRAIN_ENV. ALT_CAP is ignored: one worker is a cap of 1.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from common import (
    BASE_URL,
    BRAIN,
    BRAIN_ENV,
    TOKEN,
    Incoming,
    allowed_messages,
    answer_of,
    api,
    exit_on_sigterm,
    mark_seen,
)
from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError

inbox: queue.Queue[Incoming] = queue.Queue()
running: set[subprocess.Popen[str]] = set()  # the brain at work, to kill on SIGTERM


def ask_brain(prompt: str, still_working: Callable[[], None]) -> str:
    """Runs the brain and returns its "result"; `still_working()` every 4 s meanwhile."""
    brain = subprocess.Popen(BRAIN, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=BRAIN_ENV)
    running.add(brain)
    stdin: str | None = prompt
    try:
        while True:
            still_working()
            try:
                out, _ = brain.communicate(stdin, timeout=4)
                break
            except subprocess.TimeoutExpired:
                stdin = None  # already handed over; communicate() carries on
    finally:
        running.discard(brain)
    return answer_of(out, brain.returncode)


def worker(bot: Bot, loop: asyncio.AbstractEventLoop) -> None:
    """The one worker (its own thread): the inbox's messages one at a time, in order."""

    def call(how: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        asyncio.run_coroutine_threadsafe(api(how, *args, **kwargs), loop).result()

    while True:
        chat_id, message_id, text = inbox.get()
        try:
            typing = functools.partial(call, bot.send_chat_action, chat_id, ChatAction.TYPING)
            answer = ask_brain(text, typing)
            call(bot.send_message, chat_id, answer[:4096],
                 reply_parameters=ReplyParameters(message_id))
        except TelegramError as e:
            print(f"chat {chat_id}: {e}", file=sys.stderr)


async def main() -> None:
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
        loop = asyncio.get_running_loop()
        threading.Thread(target=worker, args=(bot, loop), name="worker", daemon=True).start()
        async for message in allowed_messages(bot):  # the poll loop never waits for a brain
            await mark_seen(bot, message)
            inbox.put(message)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        asyncio.run(main())
    finally:
        for brain in list(running):  # the worker is a daemon thread: its brain is not
            brain.kill()
