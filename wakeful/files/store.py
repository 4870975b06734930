"""Saving a downloaded file into a chat's directory: the I/O half of names.py.

Runs at the edge (the gateway), never in an actor. The directory is created 0700 and
the file 0600, created exclusively (never over an existing file, never through a
symlink: a brain's tools can write in the same directory); a name that exists gets a
number. The final path is checked, after resolving every link, to be inside the
directory, so no name and no link planted there can make wakeful write elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import os

from wakeful.delivery.calls import SavedFile
from wakeful.files.names import numbered, safe_name

MAX_NUMBER = 1000  # "name (1000).ext" and still taken: something is wrong, say so


class UnsafePath(Exception):
    """The file would not land inside its directory; nothing was written."""


class TooBig(Exception):
    """More bytes came than the file may have; what was written is gone."""


def save(directory: str, name: str, data: bytes, fallback: str = "file") -> SavedFile:
    """Write `data` as a new file named after `name` in `directory`; returns where."""
    with NewFile(directory, name, fallback=fallback) as new:
        new.write(data)
        return new.finish()


class NewFile:
    """A file written as it arrives (a download, chunk by chunk), created as `save`
    creates one. Over `max_bytes` it is refused (TooBig); leaving the `with` block any
    way but through `finish` removes it, so a failed download leaves nothing behind."""

    def __init__(self, directory: str, name: str, max_bytes: int | None = None,
                 fallback: str = "file") -> None:
        self.path, self._fd = _create(directory, name, fallback)
        self._max_bytes = max_bytes
        self._size = 0
        self._finished = False

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._max_bytes is not None and self._size > self._max_bytes:
            raise TooBig(f"over the limit of {self._max_bytes} bytes")
        _write_all(self._fd, chunk)

    def finish(self) -> SavedFile:
        os.close(self._fd)
        self._finished = True
        return SavedFile(self.path, self._size)

    def __enter__(self) -> NewFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._finished:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _create(directory: str, name: str, fallback: str) -> tuple[str, int]:
    """A new, empty, 0600 file inside `directory`: its path and an open descriptor."""
    root = _directory(directory)
    base = safe_name(name, fallback)
    for number in range(1, MAX_NUMBER + 1):
        candidate = base if number == 1 else numbered(base, number)
        path = os.path.join(root, candidate)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:
            continue
        if os.path.dirname(os.path.realpath(path)) != root:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise UnsafePath(f"{candidate!r} resolves outside {root}")
        return path, fd
    raise FileExistsError(errno.EEXIST, f"no free name for {base!r} in {root}")


def _directory(directory: str) -> str:
    """Create `directory` (0700) if needed; its resolved path. A link there is refused:
    files go where the operator said, not where something in the workdir points."""
    path = os.path.abspath(directory)
    missing = []
    ancestor = path
    while not os.path.lexists(ancestor):
        missing.append(ancestor)
        ancestor = os.path.dirname(ancestor)
    for new in reversed(missing):  # makedirs would give the ancestors the umask's mode
        with contextlib.suppress(FileExistsError):
            os.mkdir(new, 0o700)
    if os.path.islink(path) or not os.path.isdir(path):
        raise UnsafePath(f"{path} is not a plain directory")
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return os.path.realpath(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
