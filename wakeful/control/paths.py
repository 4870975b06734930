"""Where the control socket lives, and why its directory must be ours alone.

The socket answers anyone who can connect to it, after checking their uid; the
directory is the first gate. It must be owned by us and closed to group and others,
so nobody else can reach the socket, plant one in its place, or swap the directory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wakeful.config import Config
from wakeful.control.errors import ControlError

SOCKET_NAME = "control.sock"
# sun_path holds 108 bytes, the last of them the terminating NUL.
MAX_PATH_BYTES = 107


@dataclass(frozen=True)
class SocketPlace:
    path: Path
    # True when the directory is the one the default rule names: wakeful made it, so
    # wakeful may tighten it; a directory the operator chose is only ever checked.
    default: bool

    @property
    def directory(self) -> Path:
        return self.path.parent


def socket_place(config: Config, environ: Mapping[str, str] | None = None) -> SocketPlace:
    """`[control] socket`; unset: $XDG_RUNTIME_DIR/wakeful/, else `run/` beside the journal."""
    env = os.environ if environ is None else environ
    if config.control.socket:
        return SocketPlace(Path(os.path.expanduser(config.control.socket)).absolute(), False)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return SocketPlace(Path(runtime) / "wakeful" / SOCKET_NAME, True)
    journal = Path(config.journal.resolved_path()).absolute()
    return SocketPlace(journal.parent / "run" / SOCKET_NAME, True)


def check_length(path: Path) -> None:
    size = len(os.fsencode(path))
    if size > MAX_PATH_BYTES:
        raise ControlError(
            f"socket path {path} is too long for a Unix socket ({size} bytes, the limit is "
            f"{MAX_PATH_BYTES}); set [control] socket to a shorter path")


def prepare_directory(place: SocketPlace, uid: int | None = None) -> None:
    """Make sure the socket's directory exists, is ours, and only we can enter it."""
    me = os.geteuid() if uid is None else uid
    directory = place.directory
    check_length(place.path)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise ControlError(f"cannot create the socket directory {directory}: "
                           f"{exc.strerror}") from None
    try:
        info = directory.stat()
    except OSError as exc:
        raise ControlError(f"cannot use the socket directory {directory}: "
                           f"{exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{directory} is not a directory (it should hold the control socket)")
    if info.st_uid != me:
        raise ControlError(f"socket directory {directory} belongs to uid {info.st_uid}, "
                           f"not to this wakeful (uid {me}); choose another [control] socket")
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if not loose:
        return
    if created or place.default:
        # Our own directory (mkdir's mode is cut by the umask, never widened; an older
        # one may have been loosened): wakeful made it, so wakeful may close it again.
        try:
            directory.chmod(0o700)
        except OSError as exc:
            raise ControlError(f"cannot make the socket directory {directory} private: "
                               f"{exc.strerror}") from None
        return
    raise ControlError(
        f"socket directory {directory} is open to group or others (mode "
        f"{stat.S_IMODE(info.st_mode):04o}); make it 0700 or choose another [control] socket")
