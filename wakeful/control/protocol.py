"""The control protocol: one JSON line asked, one JSON line answered, then the connection ends.

    {"op": "state", "previews": true}  ->  {"ok": true, "state": {...}}
    {"op": "ping"}                     ->  {"ok": true, "version": "...", "pid": 123}
    anything else                      ->  {"ok": false, "error": "..."}
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAX_REQUEST = 64 * 1024
READ_TIMEOUT = 5.0
# A state document of thousands of chats is a few megabytes; anything far beyond is
# not an answer from wakeful.
MAX_RESPONSE = 256 * 1024 * 1024


class Op(Enum):
    STATE = "state"
    PING = "ping"


@dataclass(frozen=True)
class Request:
    op: Op
    previews: bool = True


class BadRequest(Exception):
    """The request cannot be served; the message is the answer's error text."""


def parse_request(line: bytes) -> Request:
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("not a JSON request line") from None
    if not isinstance(data, dict):
        raise BadRequest("a request is a JSON object")
    try:
        op = Op(data.get("op"))
    except ValueError:
        known = ", ".join(o.value for o in Op)
        raise BadRequest(f"unknown op {data.get('op')!r} (known: {known})") from None
    previews = data.get("previews", True)
    if not isinstance(previews, bool):
        raise BadRequest("previews must be true or false")
    return Request(op, previews)


def encode_request(request: Request) -> bytes:
    return _line({"op": request.op.value, "previews": request.previews})


def answer(**fields: Any) -> bytes:
    return _line({"ok": True, **fields})


def error(message: str) -> bytes:
    return _line({"ok": False, "error": message})


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def read_line(conn: socket.socket, limit: int, timeout: float) -> bytes:
    """One line (without its newline), or what came before the peer closed.

    Raises BadRequest when it is longer than `limit`, TimeoutError when it takes longer
    than `timeout` in all (a trickle of bytes cannot hold a thread forever).
    """
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        conn.settimeout(left)
        chunk = conn.recv(65536)
        if not chunk:
            end = len(buffer)
        else:
            newline = chunk.find(b"\n")  # only the new bytes: a long answer stays linear
            end = len(buffer) + newline if newline >= 0 else -1
            buffer += chunk
        if end > limit or (end < 0 and len(buffer) > limit):
            raise BadRequest(f"request longer than {limit} bytes")
        if end >= 0:
            return bytes(buffer[:end])
