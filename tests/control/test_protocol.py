"""The request line, its limits, and who may ask."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from wakeful.control.peer import may_connect, peer_of
from wakeful.control.protocol import (
    BadRequest,
    Op,
    Request,
    encode_request,
    parse_request,
    read_line,
)


def test_the_owner_and_root_may_connect_nobody_else() -> None:
    assert may_connect(1000, own_uid=1000)
    assert may_connect(0, own_uid=1000), "root could read the process's memory anyway"
    assert not may_connect(1001, own_uid=1000)
    assert may_connect(0, own_uid=0)
    assert not may_connect(1000, own_uid=0)


def test_the_kernel_names_the_peer() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        peer = peer_of(left)
        assert (peer.pid, peer.uid, peer.gid) == (os.getpid(), os.geteuid(), os.getegid())


def test_requests_parse_or_say_what_is_wrong() -> None:
    assert parse_request(b'{"op": "state"}') == Request(Op.STATE, previews=True)
    assert parse_request(b'{"op": "state", "previews": false}') == Request(Op.STATE, False)
    assert parse_request(encode_request(Request(Op.PING)).rstrip()) == Request(Op.PING)
    for line, error in [
        (b"", "not a JSON request line"),
        (b"{", "not a JSON request line"),
        (b"\xff", "not a JSON request line"),
        (b"42", "a request is a JSON object"),
        (b'{"op": "stop"}', "unknown op 'stop' (known: state, ping)"),
        (b"{}", "unknown op None (known: state, ping)"),
        (b'{"op": "state", "previews": 1}', "previews must be true or false"),
    ]:
        with pytest.raises(BadRequest) as bad:
            parse_request(line)
        assert str(bad.value) == error


def test_a_line_is_read_whole_cut_at_its_limit_and_timed_out() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        right.sendall(b'{"op":')
        threading.Timer(0.05, lambda: right.sendall(b' "ping"}\nrest')).start()
        assert read_line(left, limit=100, timeout=5) == b'{"op": "ping"}'
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        right.sendall(b"x" * 200)
        with pytest.raises(BadRequest, match="longer than 100 bytes"):
            read_line(left, limit=100, timeout=5)
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        right.sendall(b"no newline, then silence")
        with pytest.raises(TimeoutError):
            read_line(left, limit=100, timeout=0.2)
    left, right = socket.socketpair(socket.AF_UNIX)
    with left:
        right.sendall(b'{"op": "ping"}')
        right.close()
        assert read_line(left, limit=100, timeout=5) == b'{"op": "ping"}', "EOF ends a line"
