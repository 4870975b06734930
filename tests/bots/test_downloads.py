"""Downloads stream to disk: never more than the limit is read, and a download that
fails any way leaves nothing behind. httpx's own MockTransport plays the file server,
so the test sees exactly how much of the body the gateway pulled."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from wakeful.bots import downloads
from wakeful.bots.errors import FailureKind, FileTooBig, FileUnavailable, classify

URL = "http://files.test/file/bot1:secret-token/documents/file_1.bin"
CHUNK = 1000


class _Body(httpx.AsyncByteStream):
    """`chunks` chunks of CHUNK bytes, counting how many were pulled."""

    def __init__(self, chunks: int, fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunks):
            if self.fail_after is not None and index == self.fail_after:
                raise httpx.ReadError("connection reset")
            self.pulled += 1
            yield bytes([index % 256]) * CHUNK


def _fetch(tmp_path: Path, respond: Callable[[httpx.Request], httpx.Response],
           max_bytes: int) -> object:
    async def scenario() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
            return await downloads.download(client, URL, str(tmp_path / "files"),
                                            "report.bin", max_bytes)
    return asyncio.run(scenario())


def _left(tmp_path: Path) -> list[str]:
    directory = tmp_path / "files"
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_a_file_streams_to_a_new_0600_file(tmp_path: Path) -> None:
    body = _Body(5)
    saved = _fetch(tmp_path, lambda request: httpx.Response(200, stream=body), 10_000)
    path = tmp_path / "files" / "report.bin"
    assert saved == downloads.SavedFile(str(path), 5 * CHUNK)
    assert path.read_bytes() == b"".join(bytes([i]) * CHUNK for i in range(5))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_name_is_never_written_over(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir(mode=0o700)
    (tmp_path / "files" / "report.bin").write_bytes(b"mine")
    saved = _fetch(tmp_path, lambda request: httpx.Response(200, content=b"new"), 100)
    assert (tmp_path / "files" / "report.bin").read_bytes() == b"mine"
    assert saved == downloads.SavedFile(str(tmp_path / "files" / "report (2).bin"), 3)


def test_a_file_over_the_limit_is_refused_without_being_read_and_leaves_nothing(
        tmp_path: Path) -> None:
    # 100 MB on offer, no length announced: the limit is all that stops the reading.
    body = _Body(100_000)
    with pytest.raises(FileTooBig) as caught:
        _fetch(tmp_path, lambda request: httpx.Response(200, stream=body), 2_500)
    assert body.pulled == 3, "stops at the first chunk past the limit"
    assert _left(tmp_path) == [], "the partial file is removed"
    assert classify(caught.value).kind is FailureKind.FILE_TOO_BIG


def test_an_announced_length_over_the_limit_is_refused_before_the_body(tmp_path: Path) -> None:
    body = _Body(10)
    with pytest.raises(FileTooBig):
        _fetch(tmp_path, lambda request: httpx.Response(
            200, headers={"Content-Length": str(10 * CHUNK)}, stream=body), 5_000)
    assert body.pulled == 0 and _left(tmp_path) == []


def test_exactly_the_limit_is_allowed(tmp_path: Path) -> None:
    saved = _fetch(tmp_path, lambda request: httpx.Response(200, stream=_Body(3)), 3 * CHUNK)
    assert saved.size == 3 * CHUNK  # type: ignore[attr-defined]


def test_a_connection_lost_midway_leaves_nothing_and_is_worth_another_try(
        tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as caught:
        _fetch(tmp_path, lambda request: httpx.Response(200, stream=_Body(10, fail_after=4)),
               100_000)
    assert _left(tmp_path) == []
    assert classify(caught.value).retryable
    assert "secret-token" not in str(caught.value)


def test_a_timeout_is_worth_another_try(tmp_path: Path) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TimedOut) as caught:
        _fetch(tmp_path, respond, 100)
    assert classify(caught.value).retryable and _left(tmp_path) == []


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_link_telegram_does_not_serve_is_unavailable(tmp_path: Path, status: int) -> None:
    with pytest.raises(FileUnavailable):
        _fetch(tmp_path, lambda request: httpx.Response(status, content=b"Not Found"), 100)
    assert _left(tmp_path) == []


def test_a_server_error_is_worth_another_try(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as caught:
        _fetch(tmp_path, lambda request: httpx.Response(502, content=b"Bad Gateway"), 100)
    assert classify(caught.value).kind is FailureKind.TRANSIENT and _left(tmp_path) == []


def test_the_file_is_asked_for_uncompressed(tmp_path: Path) -> None:
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Accept-Encoding"])
        return httpx.Response(200, content=b"x")

    _fetch(tmp_path, respond, 100)
    assert seen == ["identity"]
