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
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import NetworkError, RetryAfter, TelegramError

T = TypeVar("T")

TOKEN = os.environ["ALT_TOKEN"]
BASE_URL = os.environ["ALT_BASE_URL"]
ALLOWED = {int(u) for u in os.environ["ALT_USER_IDS"].split(",") if u}
BRAIN: list[str] = json.loads(os.environ["ALT_BRAIN"])
BRAIN_ENV: dict[str, str] = {"PATH": os.environ.get("PATH", ""),
                             **json.loads(os.environ["ALT_BRAIN_ENV"])}

inbox: queue.Queue[tuple[int, int, str]] = queue.Queue()  # (chat id, message id, text)
running: set[subprocess.Popen[str]] = set()  # the brain at work, to kill on SIGTERM


async def api(call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """The call, retried after the wait a 429 asks for (three times at most)."""
    for _ in range(3):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as e:
            wait = e.retry_after
            await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else wait)
    return await call(*args, **kwargs)


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
    for line in out.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "result":
            return str(event.get("result") or "(empty answer)")
    return f"(the brain failed with exit code {brain.returncode})"


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
    offset = 0
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
        loop = asyncio.get_running_loop()
        threading.Thread(target=worker, args=(bot, loop), name="worker", daemon=True).start()
        while True:
            try:
                updates = await bot.get_updates(offset=offset, timeout=10,
                                                allowed_updates=["message"])
            except NetworkError as e:
                print(f"getUpdates failed: {e}", file=sys.stderr)
                await asyncio.sleep(1)
                continue
            for update in updates:
                offset = update.update_id + 1
                message = update.message
                if message is None or not message.text or message.from_user is None:
                    continue
                if message.from_user.id not in ALLOWED:
                    continue
                try:
                    await api(bot.set_message_reaction, message.chat_id, message.message_id,
                              "👀")
                except TelegramError as e:
                    print(f"chat {message.chat_id}: {e}", file=sys.stderr)
                inbox.put((message.chat_id, message.message_id, message.text))


def on_sigterm(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        asyncio.run(main())
    finally:
        for brain in list(running):  # the worker is a daemon thread: its brain is not
            brain.kill()
