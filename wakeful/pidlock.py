"""One holder per file: an flock'd `<path>.lock` that names the pid holding it.

The journal (one instance per bot) and the control socket (one server per path) both
need "the other one is running, and here is its pid" without a race between two
instances starting at the same moment; flock is released by the kernel when the
holder dies, so a lock left by a killed process is never in the way.
"""

from __future__ import annotations

import fcntl
import os


class LockHeld(Exception):
    """Another live process holds the lock."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(holder or "unknown")
        self.holder = holder  # its pid as written in the file, if it wrote one


def hold(lock_path: str) -> int:
    """Take the lock for the life of the returned descriptor (close it to release).

    Raises OSError when the file cannot be created, LockHeld when someone holds it.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise LockHeld(holder if holder.isdigit() else None) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
