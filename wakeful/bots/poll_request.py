"""The getUpdates connection, renewed whenever a poll does not end cleanly.

A long poll is cancelled on purpose: a replaced poller's poll must free Telegram's only
getUpdates connection for its successor (wakeful/bots/gateway.py). httpcore 1.0.9 can
lose a pool slot for good to a request cancelled just after the pool gave it a new,
not yet opened connection (encode/httpcore#1093, open): with a pool of one, every later
getUpdates then fails with "Pool timeout" and the bot is deaf while its poller still
beats. A storm that crashed the chats supervisor (and so replaced the poller) hit it.

So no pool outlives a poll that did not end with an answer: a poll that was cancelled
or failed leaves its pool to be closed in the background, and the next poll opens a
fresh one. A poll that finds the pool still held by its predecessor (whose cancellation
has not unwound yet) does not queue behind it either. Renewing costs one TCP connect,
and only after a failure or a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


@dataclass
class _Pool:
    request: BaseRequest
    ready: bool = False
    busy: bool = False


class PollRequest(BaseRequest):
    """A `BaseRequest` for `Bot(get_updates_request=...)` built from `make`, which
    returns a fresh request object (e.g. an `HTTPXRequest` with one connection)."""

    def __init__(self, make: Callable[[], BaseRequest]) -> None:
        self._make = make
        self._pool = _Pool(make())
        self._closing: set[asyncio.Task[None]] = set()
        self.renewals = 0

    @property
    def read_timeout(self) -> float | None:
        return self._pool.request.read_timeout

    async def initialize(self) -> None:
        await self._pool.request.initialize()
        self._pool.ready = True

    async def shutdown(self) -> None:
        await self._pool.request.shutdown()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        pool = self._pool
        if pool.busy:
            pool = self._renew()
        pool.busy = True
        try:
            if not pool.ready:
                await pool.request.initialize()
                pool.ready = True
            answer = await pool.request.do_request(
                url, method, request_data, read_timeout=read_timeout,
                write_timeout=write_timeout, connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except BaseException:
            # Cancelled, timed out, connection lost: the pool may hold a slot it will
            # never give back. An HTTP answer (even 409 or 502) comes back as a status.
            if pool is self._pool:
                self._renew()
            raise
        pool.busy = False
        return answer

    def _renew(self) -> _Pool:
        old, self._pool = self._pool, _Pool(self._make())
        self.renewals += 1
        task = asyncio.get_running_loop().create_task(_close(old.request))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return self._pool


async def _close(request: BaseRequest) -> None:
    with contextlib.suppress(Exception):
        await request.shutdown()
