"""Parent side of a brain turn: one child process from the fork server, one reader thread.

Forking a process full of threads (pykka actors, the gateway loop, httpx) is unsafe:
the child inherits locks held by threads that do not exist in it. The fork server is
a clean single-threaded process started once, with the brain modules preloaded, that
forks each turn's child cheaply (wakeful/brain/fork_server.py is what it preloads).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from wakeful.brain import child
from wakeful.brain.child import (
    CANCEL,
    ApprovalDecision,
    ChildReport,
    FollowUp,
    Spawned,
    TurnSpec,
)

log = logging.getLogger(__name__)

_context: multiprocessing.context.BaseContext | None = None
_context_lock = threading.Lock()


def brain_context() -> multiprocessing.context.BaseContext:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["wakeful.brain.fork_server"])
            _context = ctx
        return _context


def warm_up() -> None:
    """Start the fork server now, so the first user's turn does not pay for it."""
    brain_context()
    multiprocessing.forkserver.ensure_running()


class BrainProcess:
    """One running turn. Callbacks run on this turn's reader thread."""

    def __init__(
        self,
        spec: TurnSpec,
        on_item: Callable[[Any], None],
        on_exit: Callable[[int | None], None],
    ) -> None:
        self.spec = spec
        self._on_item = on_item
        self._on_exit = on_exit
        ctx = brain_context()
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._process = ctx.Process(  # type: ignore[attr-defined]
            target=child.run_turn, args=(spec, child_conn), daemon=True,
            name=f"wakeful-brain-{spec.turn_id}",
        )
        self._child_conn = child_conn
        self.brain_pid: int | None = None
        self._reader = threading.Thread(
            target=self._read, name=f"wakeful-turn-{spec.turn_id}", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        self._process.start()
        self._child_conn.close()  # the child holds its own end; EOF here means it is gone
        self._reader.start()

    def cancel(self) -> None:
        """Ask the child to end the turn; it kills the brain's group and reports."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(CANCEL)

    def send(self, follow_up: FollowUp | ApprovalDecision) -> None:
        """Have the child write a follow-up into the brain's session (or say it could not)."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(follow_up)

    def kill(self) -> None:
        """Last resort when the child itself does not respond: kill everything now."""
        self._kill_brain_group()
        with contextlib.suppress(Exception):
            self._process.kill()

    def _kill_brain_group(self) -> None:
        if self.brain_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.brain_pid, signal.SIGKILL)

    def _read(self) -> None:
        """Executed on this turn's reader thread until the child closes its pipe."""
        reported = False
        try:
            while True:
                try:
                    item = self._conn.recv()
                except (EOFError, OSError):
                    break
                if isinstance(item, Spawned):
                    self.brain_pid = item.pid
                reported = reported or isinstance(item, ChildReport)
                self._on_item(item)
        finally:
            self._process.join()
            if not reported:
                # The child died without cleaning up (SIGKILL?). The kernel killed the
                # brain with it; tools the brain started may still run in its group.
                self._kill_brain_group()
            self._conn.close()
            self._on_exit(self._process.exitcode)
