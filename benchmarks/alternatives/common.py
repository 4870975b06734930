"""Plumbing the alternative bots share; none of their designs lives here.

Each script runs as `python <script>`, so this directory is `sys.path[0]` and a plain
`from common import ...` finds this module. What it holds:

- the ALT_* environment (the contract is documented in `alternative()` in
  benchmarks/storms/contenders.py);
- the brain's answer: the "result" field of the stream-json line of type "result";
- a Telegram call retried after the wait a 429 asks for;
- for the three getUpdates scripts (one_loop, one_queue, proc_lock): the poll loop's
  stream of text messages from allowed users, and the 👀 that only logs a failure;
- for the two python-telegram-bot scripts (ptb_concurrent, ptb_per_chat): the turn a
  handler runs (the brain under a slot, with "typing", then the reply) and the stop on a
  signal that kills the running brains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

from telegram.constants import ChatAction
from telegram.error import NetworkError, RetryAfter, TelegramError

if TYPE_CHECKING:
    from telegram import Bot, Chat, Message
    from telegram.ext import Application

    AnyApplication = Application[Any, Any, Any, Any, Any, Any]

T = TypeVar("T")

TOKEN = os.environ["ALT_TOKEN"]
BASE_URL = os.environ["ALT_BASE_URL"]  # what Bot(base_url=...) takes: ".../bot"
USER_IDS = frozenset(int(u) for u in os.environ["ALT_USER_IDS"].split(",") if u.strip())
BRAIN: list[str] = json.loads(os.environ["ALT_BRAIN"])
BRAIN_ENV: dict[str, str] = {"PATH": os.environ.get("PATH", os.defpath),
                             **json.loads(os.environ["ALT_BRAIN_ENV"])}


def cap() -> int:
    """ALT_CAP, brains at once: read only by the designs that have a cap."""
    return int(os.environ["ALT_CAP"])


def result_of(stream_json: str) -> str | None:
    """The "result" of the brain's stream-json line of type "result" ("" if empty); None
    when there is no such line (the brain failed)."""
    for line in stream_json.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "result":
            return str(event.get("result") or "")
    return None


def answer_of(stream_json: str, returncode: int | None) -> str:
    """What the getUpdates scripts send for a brain's output: its result, or why none."""
    result = result_of(stream_json)
    if result is None:
        return f"(the brain failed with exit code {returncode})"
    return result or "(empty answer)"


async def start_brain() -> asyncio.subprocess.Process:
    """The brain as an asyncio subprocess: the prompt goes to its stdin."""
    return await asyncio.create_subprocess_exec(
        *BRAIN, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=BRAIN_ENV)


async def wait_out(exc: RetryAfter) -> None:
    """Sleeps the wait a 429 asks for (PTB gives a timedelta or a number of seconds)."""
    wait = exc.retry_after
    await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else wait)


async def api(call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """The call, retried after the wait a 429 asks for (three times at most)."""
    for _ in range(3):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as e:
            await wait_out(e)
    return await call(*args, **kwargs)


def exit_on_sigterm(_signum: int, _frame: object) -> NoReturn:
    """A SIGTERM handler: SystemExit unwinds whatever runs (each script says what that
    does to its brains)."""
    raise SystemExit(0)


# The getUpdates scripts: one_loop, one_queue, proc_lock.


class Incoming(NamedTuple):
    """A text message from an allowed user."""

    chat_id: int
    message_id: int
    text: str


async def allowed_messages(bot: Bot) -> AsyncIterator[Incoming]:
    """Long-polls getUpdates for ever and yields each text message from an allowed user,
    in order of arrival; the next getUpdates confirms what was yielded. Whatever the
    caller does with a message, the poll waits for it. After a network error: a pause
    of one second, and again."""
    offset = 0
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
            if message.from_user.id not in USER_IDS:
                continue
            yield Incoming(message.chat_id, message.message_id, message.text)


async def mark_seen(bot: Bot, message: Incoming) -> None:
    """👀 on the message; a failure is only logged (the answer must still come)."""
    try:
        await api(bot.set_message_reaction, message.chat_id, message.message_id, "👀")
    except TelegramError as e:
        print(f"chat {message.chat_id}: {e}", file=sys.stderr)


# The python-telegram-bot scripts: ptb_concurrent, ptb_per_chat.

TYPING_EVERY = 4.0  # Telegram shows "typing" for about 5 s
REPLY_ATTEMPTS = 5

RUNNING: set[asyncio.subprocess.Process] = set()  # brains to kill on shutdown
STOPPING = asyncio.Event()


async def run_brain(prompt: str) -> str | None:
    """The brain's answer: the "result" of its stream-json "result" line (None: none)."""
    proc = await start_brain()
    RUNNING.add(proc)
    if STOPPING.is_set():  # the signal came while it was starting
        proc.kill()
    try:
        out, _ = await proc.communicate(prompt.encode())
    finally:
        RUNNING.discard(proc)
    return result_of(out.decode(errors="replace"))


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
            await wait_out(exc)


async def brain_turn(message: Message, prompt: str, slots: asyncio.Semaphore) -> None:
    """A handler's turn: the brain under one of `slots`, "typing" every 4 s meanwhile, then
    the reply to `message`; nothing more once the bot is stopping."""
    async with slots:
        if STOPPING.is_set():
            return
        typing = asyncio.create_task(keep_typing(message.chat))
        try:
            answer = await run_brain(prompt)
        finally:
            typing.cancel()
    if STOPPING.is_set():
        return
    await reply(message, answer or "(the brain gave no answer)")


def on_stop_signal(app: AnyApplication) -> None:
    """Kill the brains now: Application.stop() waits for every handler to finish."""
    STOPPING.set()
    for proc in list(RUNNING):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    app.stop_running()


async def stop_on_signals(app: AnyApplication) -> None:
    """A post_init: SIGINT and SIGTERM kill the brains and stop the application."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop_signal, app)
