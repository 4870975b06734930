"""Preflight: the control socket's place is usable, so `run` will not refuse it after start.

The same rules as control/paths.py `prepare_directory`, read without changing anything:
a directory wakeful would create or tighten itself passes, one the operator chose must
already be private and ours.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Mapping

from wakeful.config import Config
from wakeful.control.errors import ControlError
from wakeful.control.paths import check_length, socket_place
from wakeful.ops.findings import Finding
from wakeful.ops.paths_check import directory_problem


def check_control(config: Config, environ: Mapping[str, str] | None = None) -> Finding:
    place = socket_place(config, environ)
    try:
        check_length(place.path)
    except ControlError as exc:
        return Finding.problem(f"control: {exc}")
    directory = place.directory
    if not os.path.lexists(directory):
        problem = directory_problem(str(directory))
        if problem is not None:
            return Finding.problem(f"control: socket directory {directory} {problem}")
        return Finding.ok(f"control: {place.path} (directory will be created 0700)")
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        return Finding.problem(f"control: {directory} is not a directory (it should hold the "
                               "control socket)")
    if info.st_uid != os.geteuid():
        return Finding.problem(f"control: socket directory {directory} belongs to uid "
                               f"{info.st_uid}, not to this user (uid {os.geteuid()})")
    if stat.S_IMODE(info.st_mode) & 0o077 and not place.default:
        return Finding.problem(
            f"control: socket directory {directory} is open to group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it 0700 or choose another [control] "
            "socket")
    if _someone_serves(str(place.path)):
        return Finding.note(f"control: a wakeful already serves at {place.path} (wakeful "
                            "state shows it; a second run with this config would refuse)")
    return Finding.ok(f"control: {place.path}")


def _someone_serves(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
