"""Fixtures for the local Bot API tests: a core on a hand-set clock, and PTB bots on it.

`make_bot` is parametrised over both transports, so every scenario written with it runs
over loopback HTTP and through `InProcessRequest` alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from tests.bots.harness import TOKEN, WAIT, BotFactory, ManualClock
from wakeful.testing.bot_api import BotApiCore, InProcessRequest, LocalBotApiServer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def core(clock: ManualClock) -> BotApiCore:
    return BotApiCore(TOKEN, monotonic=clock.monotonic, wall=clock.wall)


@pytest.fixture
def server(core: BotApiCore) -> Iterator[LocalBotApiServer]:
    with LocalBotApiServer(core) as running:
        yield running


@pytest.fixture(params=["http", "inproc"])
def make_bot(request: pytest.FixtureRequest, core: BotApiCore) -> BotFactory:
    """A fresh PTB Bot per call (each asyncio.run needs its own HTTP clients)."""
    if request.param == "http":
        server: LocalBotApiServer = request.getfixturevalue("server")

        def http_bot(token: str = TOKEN) -> Bot:
            return Bot(
                token,
                base_url=server.base_url,
                request=HTTPXRequest(),
                get_updates_request=HTTPXRequest(read_timeout=WAIT),
            )

        return http_bot

    def inproc_bot(token: str = TOKEN) -> Bot:
        shared = InProcessRequest(core, read_timeout=WAIT)
        return Bot(token, request=shared, get_updates_request=shared)

    return inproc_bot
