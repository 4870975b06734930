"""A PTB request backend that calls `BotApiCore` directly, skipping HTTP entirely.

For large tests and benchmarks: PTB still builds the request, parses the envelope and
maps errors to exceptions exactly as it does for the network, but a call costs tens of
microseconds instead of a loopback round trip.

A lost response (`BotApiCore.lose_next_response`) raises what PTB's HTTPX backend raises
for the same event on a socket: NetworkError when the server hangs up without answering,
TimedOut once the read timeout runs out on a server that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from wakeful.testing.bot_api.core import BotApiCore, Envelope, Reply

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

DEFAULT_NONE = BaseRequest.DEFAULT_NONE

# Only getUpdates can block inside the core; everything else holds the core's lock for
# microseconds, so running it inline is far cheaper than a thread hop per call.
_BLOCKING_METHODS = frozenset({"getupdates"})
_FILE_PREFIX = "/file/bot"  # downloads: /file/bot<token>/<file_path>
# PTB's HTTPXRequest wraps httpx's error this way; the bridge sees the very same text.
_DISCONNECTED = "httpx.RemoteProtocolError: Server disconnected without sending a response."


def _split_url(url: str) -> tuple[str, str] | None:
    head, _, method = urlsplit(url).path.rpartition("/")
    token_part = head.rpartition("/")[2]
    if not method or not token_part.startswith("bot") or len(token_part) <= len("bot"):
        return None
    return token_part.removeprefix("bot"), method


def _timeout(read_timeout: ODVInput[float], default: float | None) -> float | None:
    if read_timeout is None or isinstance(read_timeout, int | float):
        return read_timeout
    return default


def _encode(envelope: Envelope) -> tuple[int, bytes]:
    status, body = envelope
    return status, json.dumps(body).encode()


def _error(code: HTTPStatus, description: str) -> tuple[int, bytes]:
    return _encode((code, {"ok": False, "error_code": int(code), "description": description}))


def _in_own_thread(
    fn: Callable[..., Reply], *args: Any
) -> asyncio.Future[Reply]:
    """Run `fn` on a thread that ends with the call.

    Not the loop's default executor: two polls that overlap for an instant (a successor's
    poll starting while the interrupted one unwinds) would leave a second pool worker
    idling for the life of the loop, and tests that count threads at rest would see it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Reply] = loop.create_future()

    def settle(result: Reply | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as error:  # handed to the awaiting coroutine
            outcome: tuple[Reply | None, BaseException | None] = (None, error)
        else:
            outcome = (result, None)
        # The loop may have closed while the call ran: then nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name="inproc-getUpdates", daemon=True).start()
    return future


class InProcessRequest(BaseRequest):
    """Pass as both `request=` and `get_updates_request=` of `telegram.Bot`."""

    __slots__ = ("_closed", "_core", "_read_timeout")

    def __init__(self, core: BotApiCore, read_timeout: float | None = 5.0) -> None:
        self._core = core
        self._read_timeout = read_timeout
        self._closed = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._closed = False

    async def shutdown(self) -> None:
        self._closed = True
        # Wake a poll parked in its thread so the thread ends with the client.
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
        path = urlsplit(url).path
        if path.startswith(_FILE_PREFIX):
            # A download (File.download_*): PTB's retrieve() is a GET through here too.
            # PTB percent-encodes the whole path, the token's ":" included.
            token, _, file_path = unquote(path.removeprefix(_FILE_PREFIX)).partition("/")
            data = self._core.download(token, file_path)
            return (HTTPStatus.OK, data) if data is not None else \
                _error(HTTPStatus.NOT_FOUND, "Not Found")
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
        timeout = _timeout(read_timeout, self._read_timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if api_method.lower() not in _BLOCKING_METHODS:
            reply = self._core.serve(token, api_method, params)
        else:
            reply = await self._serve_blocking(token, api_method, params, timeout)
        if reply.lost == "disconnect":
            raise NetworkError(_DISCONNECTED)
        if reply.lost == "hang":
            await self._hang(deadline)
        return _encode((reply.status, reply.body))

    async def _serve_blocking(
        self, token: str, method: str, params: dict[str, Any], timeout: float | None
    ) -> Reply:
        call = _in_own_thread(self._core.serve, token, method, params)
        try:
            return await asyncio.wait_for(call, timeout=timeout)
        except asyncio.CancelledError:
            # The worker thread cannot be cancelled; wake it so it doesn't linger.
            self._core.interrupt_long_polls()
            raise
        except TimeoutError:
            self._core.interrupt_long_polls()
            raise TimedOut from None

    async def _hang(self, deadline: float | None) -> None:
        """No answer: TimedOut at the read deadline, NetworkError if shut down first."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            if deadline is not None and loop.time() >= deadline:
                raise TimedOut
            remaining = 0.05 if deadline is None else deadline - loop.time()
            await asyncio.sleep(min(0.05, max(0.0, remaining)))
        raise NetworkError(_DISCONNECTED)
