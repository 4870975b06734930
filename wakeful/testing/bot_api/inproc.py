"""A PTB request backend that calls `BotApiCore` directly, skipping HTTP entirely.

For large tests and benchmarks: PTB still builds the request, parses the envelope and
maps errors to exceptions exactly as it does for the network, but a call costs tens of
microseconds instead of a loopback round trip.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from wakeful.testing.bot_api.core import BotApiCore, Envelope

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

DEFAULT_NONE = BaseRequest.DEFAULT_NONE

# Only getUpdates can block inside the core; everything else holds the core's lock for
# microseconds, so running it inline is far cheaper than a thread hop per call.
_BLOCKING_METHODS = frozenset({"getupdates"})


def _split_url(url: str) -> tuple[str, str] | None:
    head, _, method = urlsplit(url).path.rpartition("/")
    token_part = head.rpartition("/")[2]
    if not method or not token_part.startswith("bot") or len(token_part) <= len("bot"):
        return None
    return token_part.removeprefix("bot"), method


def _encode(envelope: Envelope) -> tuple[int, bytes]:
    status, body = envelope
    return status, json.dumps(body).encode()


def _error(code: HTTPStatus, description: str) -> tuple[int, bytes]:
    return _encode((code, {"ok": False, "error_code": int(code), "description": description}))


class InProcessRequest(BaseRequest):
    """Pass as both `request=` and `get_updates_request=` of `telegram.Bot`."""

    __slots__ = ("_core", "_read_timeout")

    def __init__(self, core: BotApiCore, read_timeout: float | None = 5.0) -> None:
        self._core = core
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        # A poll parked in a worker thread would keep asyncio.run() from returning until
        # its timeout ran out, because the loop joins its default executor on close.
        self._core.interrupt_long_polls()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        route = _split_url(url)
        if route is None:
            return _error(HTTPStatus.NOT_FOUND, "Not Found")
        token, api_method = route
        if request_data is not None and request_data.contains_files:
            return _error(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: file uploads are not supported by the local Bot API",
            )
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        if api_method.lower() not in _BLOCKING_METHODS:
            return _encode(self._core.dispatch(token, api_method, params))

        timeout = (
            read_timeout
            if read_timeout is None or isinstance(read_timeout, int | float)
            else self._read_timeout
        )
        call = asyncio.to_thread(self._core.dispatch, token, api_method, params)
        try:
            envelope = await asyncio.wait_for(call, timeout=timeout)
        except asyncio.CancelledError:
            # The worker thread cannot be cancelled; wake it so it doesn't linger.
            self._core.interrupt_long_polls()
            raise
        except TimeoutError:
            self._core.interrupt_long_polls()
            raise TimedOut from None
        return _encode(envelope)
