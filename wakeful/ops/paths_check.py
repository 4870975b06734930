"""Preflight: the directories wakeful writes to exist, or can be created, and are writable.

Nothing is created here: a check that changes the machine would pass the second
time for the wrong reason. A missing directory passes when its nearest existing
ancestor is a writable directory, which is what creating it needs.
"""

from __future__ import annotations

import os

from wakeful.config import BrainConfig
from wakeful.ops.findings import Finding

CHAT_ID = "{chat_id}"


def check_workdir(brain: BrainConfig) -> Finding:
    if brain.workdir is None:
        return Finding.ok(f"workdir: not set (turns run in wakeful's own directory, "
                          f"{os.getcwd()})")
    fixed = _fixed_directory(brain.workdir)
    problem = directory_problem(fixed)
    if problem is not None:
        if fixed == os.path.abspath(brain.workdir):
            return Finding.problem(f"[brain] workdir {fixed} {problem}")
        return Finding.problem(f"[brain] workdir {brain.workdir}: {fixed} {problem}")
    state = "writable" if os.path.isdir(fixed) else "will be created"
    return Finding.ok(f"workdir: {brain.workdir} ({state})")


def check_journal(path: str) -> Finding:
    if path == ":memory:":
        return Finding.ok("journal: in memory (nothing survives a restart)")
    directory = os.path.dirname(os.path.abspath(path))
    problem = directory_problem(directory)
    if problem is not None:
        return Finding.problem(f"journal directory {directory} {problem}")
    state = "directory writable" if os.path.isdir(directory) else "directory will be created"
    return Finding.ok(f"journal: {path} ({state})")


def _fixed_directory(workdir: str) -> str:
    """The part of a per-chat workdir that is the same for every chat: `/srv/chats/{chat_id}`
    and `/srv/chats/c-{chat_id}` both need `/srv/chats`."""
    if CHAT_ID not in workdir:
        return os.path.abspath(workdir)
    prefix = workdir.split(CHAT_ID, 1)[0]
    return os.path.abspath(prefix if prefix.endswith(os.sep) else os.path.dirname(prefix) or ".")


def directory_problem(directory: str) -> str | None:
    """Why `directory` cannot be written to or created ("is not writable"), or None."""
    existing = directory
    while not os.path.lexists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        what = "does not exist" if not os.path.lexists(existing) else "is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable"
    else:
        return None
    return what if existing == directory else f"cannot be created: {existing} {what}"
