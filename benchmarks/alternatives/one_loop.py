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
import signal
import subprocess
import sys

from common import (
    BASE_URL,
    BRAIN,
    BRAIN_ENV,
    TOKEN,
    allowed_messages,
    answer_of,
    api,
    exit_on_sigterm,
)
from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError


def ask_brain(prompt: str) -> str:
    """Runs the brain to the end (blocking) and returns its "result"."""
    done = subprocess.run(BRAIN, input=prompt, capture_output=True, text=True, env=BRAIN_ENV,
                          check=False)
    return answer_of(done.stdout, done.returncode)


async def main() -> None:
    async with Bot(TOKEN, base_url=BASE_URL) as bot:
        async for chat_id, message_id, text in allowed_messages(bot):
            try:
                await api(bot.set_message_reaction, chat_id, message_id, "👀")
                await api(bot.send_chat_action, chat_id, ChatAction.TYPING)
                answer = ask_brain(text)  # blocks the whole loop, polling included: the point
                await api(bot.send_message, chat_id, answer[:4096],
                          reply_parameters=ReplyParameters(message_id))
            except TelegramError as e:
                print(f"chat {chat_id}: {e}", file=sys.stderr)


if __name__ == "__main__":
    # SystemExit unwinds whatever runs: subprocess.run kills the brain on its way out.
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    asyncio.run(main())
