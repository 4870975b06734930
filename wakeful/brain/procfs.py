"""What Linux's /proc says about a process: its parent, its group, when it started.

Off Linux there is no /proc: every function here answers "nothing known" (None, or
no processes at all), so callers do less there rather than fail.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

AVAILABLE = sys.platform.startswith("linux")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # "R", "S", ... "Z" for a zombie (dead, not yet reaped)
    ppid: int
    pgrp: int
    # Clock ticks since boot: with the pid, it names one process for good, because
    # a reused pid always comes with a later start time.
    start_time: int


def stat(pid: int) -> ProcStat | None:
    """The process `pid`, or None if there is no such process (or no /proc)."""
    if not AVAILABLE:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            line = fh.read()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parens, so the
    # fields are counted from the last ')'. Field 3 (state) is index 0 here.
    fields = line.rsplit(b")", 1)[-1].split()
    try:
        return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[2]),
                        int(fields[19]))
    except (IndexError, ValueError):
        return None


def processes() -> Iterator[ProcStat]:
    """Every process that exists now (a snapshot that may miss ones born meanwhile)."""
    if not AVAILABLE:
        return
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (found := stat(int(entry.name))) is not None:
                yield found
