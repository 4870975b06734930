"""What every local Bot API test shares: a hand-set clock, constants and PTB plumbing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot

from wakeful.testing.bot_api import BotApiCore

TOKEN = "123456:local-api-test-token-0123456789"
BOT_ID = 123456
USER = 4242
GROUP = -100
# Generous bounds: they only turn a hang into a failure; passing runs take milliseconds.
WAIT = 5.0
LONG_POLL = 30

BotFactory = Callable[..., Bot]


class ManualClock:
    """Timestamps a test sets by hand, so records can be compared exactly."""

    def __init__(self) -> None:
        self.mono = 100.0
        self.now = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.now


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=4 * WAIT))


async def wait_for_polls(core: BotApiCore, count: int) -> None:
    # A getUpdates call is counted under the core's lock and only releases it by parking
    # in the long-poll wait, so an observed count means the poll is really pending.
    def polls_started(c: BotApiCore) -> bool:
        return c.call_counts().get("getUpdates", 0) >= count

    assert await asyncio.to_thread(core.wait_for, polls_started, WAIT)
