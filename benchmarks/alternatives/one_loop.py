"""One loop: the brain called inside the poll loop (the seeds' "before").

Models the coordinator bot of seed 000/001 before its fix: a single loop calls getUpdates,
and for each message from an allowed user reacts 👀, sends "typing", runs the brain
synchronously and replies, then moves on to the next message.

Known weakness: while a brain runs the loop does not poll, so the bot is deaf. Every
message waits for every brain before it, across all chats: no 👀, no answer, only one
brain at a time, and "typing" is sent once and lapses after five seconds.

Configuration comes from the environment (see `alternative()` in
benchmarks/storms/contenders.py): ALT_BASE_URL, ALT_TOKEN, ALT_USER_IDS, ALT_BRAIN,
ALT_BRAIN_ENV. ALT_CAP is ignored: one loop runs one brain at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
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


async def api(call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """The call, retried after the wait a 429 asks for (three times at most)."""
    for _ in range(3):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as e:
            wait = e.retry_after
            await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else wait)
    return await call(*args, **kwargs)


def ask_brain(prompt: str) -> str:
    """Runs the brain to the end (blocking) and returns its "result"."""
    done = subprocess.run(BRAIN, input=prompt, capture_output=True, text=True, env=BRAIN_ENV,
                          check=False)
    for line in done.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "result":
            return str(event.get("result") or "(empty answer)")
    return f"(the brain failed with exit code {done.returncode})"


async def main() -> None:
    offset = 0
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
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
                chat_id = message.chat_id
                try:
                    await api(bot.set_message_reaction, chat_id, message.message_id, "👀")
                    await api(bot.send_chat_action, chat_id, ChatAction.TYPING)
                    answer = ask_brain(message.text)  # blocks the whole loop: that's the point
                    await api(bot.send_message, chat_id, answer[:4096],
                              reply_parameters=ReplyParameters(message.message_id))
                except TelegramError as e:
                    print(f"chat {chat_id}: {e}", file=sys.stderr)


def on_sigterm(_signum: int, _frame: object) -> NoReturn:
    # SystemExit unwinds whatever runs: subprocess.run kills the brain on its way out.
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    asyncio.run(main())
