"""Brains left running by a previous run of the service, and how to end them safely.

A brain leads its own process group (pgid = its pid), and everything it starts stays
in that group unless it calls setsid(). The service records each running brain's pid
with its start time, and at its next start ends any recorded group that still
exists. The start time is what makes that safe: by then the pid may belong to a
stranger, and a stranger must never be killed.
"""

from __future__ import annotations

import os
import signal

from wakeful.brain import procfs


def process_start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot; None if there is no such process."""
    found = procfs.stat(pid)
    return found.start_time if found is not None else None


def kill_leftover_group(pgid: int, start_time: int | None) -> int:
    """SIGKILL the process group `pgid` if it is still the one that was recorded.

    Returns how many (live) processes were signalled: 0 when the group is gone, when
    the pid now names another process, or off Linux.
    """
    if not procfs.AVAILABLE:
        return 0
    leader = procfs.stat(pgid)
    if leader is not None and leader.start_time != start_time:
        return 0  # the pid was reused: whatever runs under it is not ours
    # With the leader gone, members that remain are ours all the same: the kernel does
    # not hand out a pid while it is still some process group's id.
    members = [p for p in procfs.processes() if p.pgrp == pgid and p.state != "Z"]
    if not members:
        return 0
    # One killpg, not a kill per member: it also reaches a process forked meanwhile.
    # (It fails only if no member at all could be signalled.)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return 0
    return len(members)
