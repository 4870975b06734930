"""Proc lock: a child process per message, a per-chat file lock, at most 4 at once.

Models the forge coordinator's "Fix A" (seeds 000 and 001): the poll loop reacts 👀 at
once and hands each message to a forked multiprocessing child. The child takes a flock on
a file per chat (so one chat's messages run one at a time), runs the brain with "typing",
releases the lock and replies. The parent starts a child only while fewer than
MAX_CONCURRENT_BRAINS = 4 are alive: 4 is the fix's number, so ALT_CAP is ignored.

Known weaknesses: the cap counts children, not brains (a child waiting on its chat's lock
holds a slot), and at the cap the poll loop itself waits for a slot, so the bot goes deaf
again (no 👀, no polling) as soon as 4 brains are busy. Each child also pays a fork and a
fresh Bot (a getMe per message); a reply may overtake an earlier one, as the lock is
released before sending.

Configuration comes from the environment (see `alternative()` in
benchmarks/storms/contenders.py): ALT_BASE_URL, ALT_TOKEN, ALT_USER_IDS, ALT_BRAIN,
ALT_BRAIN_ENV.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import NoReturn

from common import (
    BASE_URL,
    TOKEN,
    allowed_messages,
    answer_of,
    api,
    exit_on_sigterm,
    mark_seen,
    start_brain,
)
from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError

MAX_CONCURRENT_BRAINS = 4

brain_pid: int | None = None  # in a child: its running brain, to kill on SIGTERM


async def ask_brain(bot: Bot, chat_id: int, prompt: str) -> str:
    """Runs the brain, "typing" every 4 s meanwhile, and returns its "result"."""
    global brain_pid
    brain = await start_brain()
    brain_pid = brain.pid
    talk = asyncio.ensure_future(brain.communicate(prompt.encode()))
    while not talk.done():
        await api(bot.send_chat_action, chat_id, ChatAction.TYPING)
        await asyncio.wait({talk}, timeout=4)
    out, _ = talk.result()
    brain_pid = None
    return answer_of(out.decode(errors="replace"), brain.returncode)


async def turn(chat_id: int, message_id: int, text: str, lock_path: Path) -> None:
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # this chat's earlier messages go first
            answer = await ask_brain(bot, chat_id, text)
        # As in the forge: the lock is released, then the answer goes out.
        await api(bot.send_message, chat_id, answer[:4096],
                  reply_parameters=ReplyParameters(message_id))


def on_child_sigterm(_signum: int, _frame: object) -> NoReturn:
    if brain_pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(brain_pid, signal.SIGKILL)
    os._exit(0)


def handle_in_child(chat_id: int, message_id: int, text: str, lock_dir: str) -> None:
    """The body of a forked child: one message's turn."""
    signal.signal(signal.SIGTERM, on_child_sigterm)
    try:
        asyncio.run(turn(chat_id, message_id, text, Path(lock_dir, f"chat-{chat_id}.lock")))
    except TelegramError as e:
        print(f"chat {chat_id}: {e}", file=sys.stderr)
        sys.exit(1)


async def main(lock_dir: str) -> None:
    fork = multiprocessing.get_context("fork")  # inherits what is imported: a quick start
    active: list[BaseProcess] = []
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
        async for message in allowed_messages(bot):
            await mark_seen(bot, message)
            active = [child for child in active if child.is_alive()]  # reaps the done ones
            while len(active) >= MAX_CONCURRENT_BRAINS:  # the cap: wait for a slot
                await asyncio.sleep(0.05)
                active = [child for child in active if child.is_alive()]
            child = fork.Process(target=handle_in_child, daemon=True, args=(
                message.chat_id, message.message_id, message.text, lock_dir))
            child.start()
            active.append(child)


if __name__ == "__main__":
    # On the way out, multiprocessing terminates the daemon children; each kills its brain.
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    locks = tempfile.mkdtemp(prefix="proc-lock-")
    try:
        asyncio.run(main(locks))
    finally:
        shutil.rmtree(locks, ignore_errors=True)
