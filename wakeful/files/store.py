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


def save(directory: str, name: str, data: bytes, fallback: str = "file") -> SavedFile:
    """Write `data` as a new file named after `name` in `directory`; returns where."""
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
        try:
            if os.path.dirname(os.path.realpath(path)) != root:
                raise UnsafePath(f"{candidate!r} resolves outside {root}")
            _write_all(fd, data)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        os.close(fd)
        return SavedFile(path, len(data))
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
