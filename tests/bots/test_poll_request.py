"""The getUpdates connection survives polls that are cancelled at the worst moment.

httpcore 1.0.9 keeps a pool slot for good when a request is cancelled right after the
pool gave it a new connection (encode/httpcore#1093); with getUpdates' pool of one that
made the bot deaf forever. The first test drives the real gateway over real HTTP into
that moment; the others pin down when `PollRequest` renews its pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from telegram.request import BaseRequest, RequestData

from wakeful.bots.gateway import TelegramGateway
from wakeful.bots.poll_request import PollRequest
from wakeful.config import Secret
from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token

ROUNDS = 5


@pytest.fixture
def telegram() -> Iterator[tuple[BotApiCore, TelegramGateway]]:
    token = random_token()
    core = BotApiCore(token)
    with LocalBotApiServer(core) as server:
        gateway = TelegramGateway(Secret(token), server.base_url, poll_timeout=1.0)
        gateway.start()
        try:
            yield core, gateway
        finally:
            gateway.stop()


def test_polls_cancelled_one_after_another_never_cost_the_getupdates_connection(
    telegram: tuple[BotApiCore, TelegramGateway],
) -> None:
    core, gateway = telegram
    for n in range(ROUNDS):
        # A long poll ends (its connection closes), the next is cancelled while it still
        # waits for the pool behind it: pollers replaced twice in quick succession.
        gateway.get_updates(None).cancel()
        gateway.get_updates(None).cancel()
        assert gateway.get_updates(None).result(timeout=10) == [], f"round {n}"
    core.inject_text(7, "still there?", user_id=7)
    updates = gateway.get_updates(None).result(timeout=10)
    assert [u["message"]["text"] for u in updates] == ["still there?"]


class _Request(BaseRequest):
    """A stand-in transport: answers with `status` once `go` is set, or fails."""

    def __init__(self, made: list[_Request], status: int = 200) -> None:
        made.append(self)
        self.status = status
        self.go = asyncio.Event()
        self.fail: Exception | None = None
        self.closed = False
        self.requests = 0

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        self.closed = True

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: object, **kwargs: object) -> tuple[int, bytes]:
        self.requests += 1
        await self.go.wait()
        if self.fail is not None:
            raise self.fail
        return self.status, b"{}"


def _poll_request(status: int = 200) -> tuple[PollRequest, list[_Request]]:
    made: list[_Request] = []
    return PollRequest(lambda: _Request(made, status)), made


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize("status", [200, 409, 502])
def test_a_poll_that_telegram_answers_keeps_its_connection(status: int) -> None:
    async def scenario() -> None:
        request, made = _poll_request(status)
        made[0].go.set()
        for _ in range(3):
            assert await request.do_request("u", "POST") == (status, b"{}")
        assert (len(made), made[0].requests, made[0].closed) == (1, 3, False)
        assert request.renewals == 0

    asyncio.run(scenario())


def test_a_cancelled_poll_leaves_its_pool_to_be_closed_and_the_next_gets_a_fresh_one() -> None:
    async def scenario() -> None:
        request, made = _poll_request()
        poll = asyncio.create_task(request.do_request("u", "POST"))
        await _settle()
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
        await _settle()
        assert made[0].closed and len(made) == 2 and request.renewals == 1
        made[1].go.set()
        assert await request.do_request("u", "POST") == (200, b"{}")
        assert (made[1].requests, made[1].closed) == (1, False)

    asyncio.run(scenario())


def test_a_failed_poll_renews_the_pool_too() -> None:
    async def scenario() -> None:
        request, made = _poll_request()
        made[0].fail = OSError("connection reset")
        made[0].go.set()
        with pytest.raises(OSError):
            await request.do_request("u", "POST")
        await _settle()
        assert made[0].closed and len(made) == 2

    asyncio.run(scenario())


def test_a_poll_never_queues_behind_a_predecessor_that_is_still_unwinding() -> None:
    async def scenario() -> None:
        request, made = _poll_request()
        old = asyncio.create_task(request.do_request("u", "POST"))
        await _settle()
        new = asyncio.create_task(request.do_request("u", "POST"))
        await _settle()
        assert len(made) == 2 and made[1].requests == 1, "the new poll has its own pool"
        made[1].go.set()
        assert await new == (200, b"{}")
        old.cancel()
        with pytest.raises(asyncio.CancelledError):
            await old
        # The old poll's end does not throw away the pool the new one is using.
        assert len(made) == 2 and not made[1].closed and made[0].closed
        await request.shutdown()
        assert made[1].closed

    asyncio.run(scenario())
