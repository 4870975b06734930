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
import time
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
from wakeful.brain.events import SessionStarted

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


# What a warm brain process tells its owner (the runner) between turns; each is called
# on the process's reader thread with the process.
OnWarm = Callable[["BrainProcess"], None]


class BrainProcess:
    """One child: a turn, and with `keep_warm` the chat's later turns in the same brain
    process. Callbacks run on this child's reader thread.

    A turn is bound to the child from its start (or `next_turn`) until its report; in
    between (warm, no turn) the owner hears `on_idle` and `on_expired` (keep_warm passed:
    `close` it unless it was just given a turn); `on_gone` when the child has ended, last.
    Without an owner a warm child is closed at once.
    """

    def __init__(
        self,
        spec: TurnSpec,
        on_item: Callable[[Any], None],
        on_exit: Callable[[int | None], None],
        on_idle: OnWarm | None = None,
        on_expired: OnWarm | None = None,
        on_gone: OnWarm | None = None,
    ) -> None:
        self.spec = spec
        self._bound: tuple[Callable[[Any], None], Callable[[int | None], None]] | None = \
            (on_item, on_exit)
        self._on_idle = on_idle or BrainProcess.close
        self._on_expired = on_expired or BrainProcess.close
        self._on_gone = on_gone or (lambda _brain: None)
        # Binding a turn and the reader's unbinding at a report must not cross.
        self._lock = threading.Lock()
        self._ended = False
        self.turn_id = spec.turn_id
        self.session_id: str | None = None  # the session the brain process runs
        self.idle_since: float | None = None  # monotonic, while warm without a turn
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

    def serves(self, turn_id: str) -> bool:
        """Whether that turn is the one running here now (a warm child outlives turns)."""
        with self._lock:
            return self._bound is not None and self.turn_id == turn_id

    def next_turn(self, spec: TurnSpec, on_item: Callable[[Any], None],
                  on_exit: Callable[[int | None], None]) -> bool:
        """Run another turn in this warm child; False if it has a turn or has ended."""
        with self._lock:
            if self._bound is not None or self._ended:
                return False
            self._bound = (on_item, on_exit)
            self.turn_id = spec.turn_id
            self.idle_since = None
            # Under the lock: the reader must not see this turn's items unbound.
            self._send(child.NextTurn(spec))
        return True

    def close(self) -> None:
        """End a warm child that has no turn (the CLI exits by itself, session saved)."""
        with self._lock:
            if self._bound is None and not self._ended:
                self._send(child.CLOSE)

    def cancel(self) -> None:
        """Ask the child to end the turn; it kills the brain's group and reports."""
        self._send(CANCEL)

    def send(self, follow_up: FollowUp | ApprovalDecision) -> None:
        """Have the child write a follow-up into the brain's session (or say it could not)."""
        self._send(follow_up)

    def _send(self, item: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(item)

    def kill(self) -> None:
        """Last resort when the child itself does not respond: kill everything now."""
        self._kill_brain_group()
        with contextlib.suppress(Exception):
            self._process.kill()

    def join(self, timeout: float) -> None:
        self._reader.join(timeout)

    def _kill_brain_group(self) -> None:
        if self.brain_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.brain_pid, signal.SIGKILL)

    def _read(self) -> None:
        """Executed on this child's reader thread until the child closes its pipe."""
        reported = False  # the child's last report, the one it sends as it ends
        try:
            while True:
                try:
                    item = self._conn.recv()
                except (EOFError, OSError):
                    break
                if isinstance(item, Spawned):
                    self.brain_pid = item.pid
                elif isinstance(item, SessionStarted):
                    self.session_id = item.session_id
                elif isinstance(item, child.WarmExpired):
                    self._on_expired(self)
                    continue
                if isinstance(item, ChildReport) and not item.warm:
                    reported = True
                with self._lock:
                    bound = self._bound
                if bound is None:
                    continue  # no turn asked (the report of a warm child closing)
                bound[0](item)
                if isinstance(item, ChildReport) and item.warm:
                    with self._lock:
                        self._bound = None
                        self.idle_since = time.monotonic()
                    # The owner files it as idle before the pool hears the turn ended, so
                    # the chat's next turn finds it.
                    self._on_idle(self)
                    bound[1](item.exit_code)
        finally:
            self._process.join()
            if not reported:
                # The child died without cleaning up (SIGKILL?). The kernel killed the
                # brain with it; tools the brain started may still run in its group.
                self._kill_brain_group()
            self._conn.close()
            with self._lock:
                bound, self._bound, self._ended = self._bound, None, True
            if bound is not None:
                bound[1](self._process.exitcode)
            self._on_gone(self)
