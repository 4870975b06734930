"""Who is on the other end of a Unix socket, from the kernel (SO_PEERCRED), not from them."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# struct ucred: pid_t pid; uid_t uid; gid_t gid;
_UCRED = struct.Struct("iII")
ROOT = 0


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(conn: socket.socket) -> Peer:
    """The credentials the peer had when it connected (Linux; raises OSError elsewhere)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Peer(*_UCRED.unpack(raw))


def may_connect(peer_uid: int, own_uid: int) -> bool:
    """The owner of the service, or root (who could read its memory anyway)."""
    return peer_uid in (own_uid, ROOT)
