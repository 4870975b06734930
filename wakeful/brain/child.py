"""The code that runs inside a brain turn's child process.

Everything here executes in the forked child (started from the fork server, so it
inherits no threads and no sockets of the service). It launches the brain command in
a new process group, feeds it the prompt through an already-unlinked 0600 file (never
argv, which `ps` shows), turns its stdout into typed events for the parent, enforces
the turn's timers and kills the whole group on the way out, so nothing outlives it.
Single-threaded on purpose: one selector loop over the brain's stdout, stderr and the
parent's pipe.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from wakeful.brain.events import TurnResult
from wakeful.brain.stream_json import StreamJsonParser

CANCEL = "cancel"


@dataclass(frozen=True)
class TurnSpec:
    turn_id: str
    argv: tuple[str, ...]
    prompt: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    budget: float = 900.0  # wall-clock seconds for the whole turn
    result_grace: float = 5.0  # how long the process may linger after its result
    kill_grace: float = 3.0  # SIGTERM -> SIGKILL


@dataclass(frozen=True)
class Spawned:
    """First item on the pipe: the brain's pid, which is also its process group id."""

    pid: int


@dataclass(frozen=True)
class ChildReport:
    """Last item on the pipe: how the brain process ended."""

    exit_code: int | None
    reason: str  # "exited", "budget", "cancelled", "lingered", "parent_gone", "spawn_failed"
    garbage_lines: int
    stderr_tail: str
    saw_result: bool


def run_turn(spec: TurnSpec, conn: Connection) -> None:
    """Entry point of the child process."""
    # The parent signals this process (not the brain's group) to abort; make that
    # path go through the same group kill as every other ending.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run(spec, conn)
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(spec: TurnSpec, conn: Connection) -> None:
    try:
        proc = _spawn(spec)
    except OSError as exc:
        conn.send(ChildReport(None, "spawn_failed", 0, f"cannot start {spec.argv[0]}: {exc}",
                              False))
        return
    conn.send(Spawned(proc.pid))
    parser = StreamJsonParser()
    stderr_tail: deque[str] = deque(maxlen=40)
    reason = "exited"
    saw_result = False
    deadline = time.monotonic() + spec.budget
    try:
        reason, saw_result = _pump(spec, proc, conn, parser, stderr_tail, deadline)
    except KeyboardInterrupt:
        reason = "cancelled"
    finally:
        exit_code = _end_group(proc, spec.kill_grace)
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send(ChildReport(exit_code, reason, parser.garbage_lines,
                                  "\n".join(stderr_tail)[-2000:], saw_result))


def _spawn(spec: TurnSpec) -> subprocess.Popen[bytes]:
    fd, path = tempfile.mkstemp(prefix="wakeful-prompt-")  # mode 0600
    try:
        os.unlink(path)
        os.write(fd, spec.prompt.encode())
        os.lseek(fd, 0, os.SEEK_SET)
        return subprocess.Popen(
            spec.argv,
            stdin=fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=spec.env,
            cwd=spec.cwd,
            start_new_session=True,  # own process group: one killpg reaches every tool it runs
            close_fds=True,
        )
    finally:
        os.close(fd)


def _pump(
    spec: TurnSpec,
    proc: subprocess.Popen[bytes],
    conn: Connection,
    parser: StreamJsonParser,
    stderr_tail: deque[str],
    deadline: float,
) -> tuple[str, bool]:
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    sel.register(conn, selectors.EVENT_READ, "parent")
    buffers = {"out": b"", "err": b""}
    saw_result = False
    open_streams = 2
    while open_streams:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            return ("lingered" if saw_result else "budget"), saw_result
        for key, _ in sel.select(timeout):
            if key.data == "parent":
                try:
                    if conn.recv() == CANCEL:
                        return "cancelled", saw_result
                except (EOFError, OSError):
                    return "parent_gone", saw_result
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                lines = [buffers[key.data]] if buffers[key.data] else []
            else:
                *lines, buffers[key.data] = (buffers[key.data] + chunk).split(b"\n")
            for line in lines:
                if key.data == "err":
                    stderr_tail.append(line.decode(errors="replace"))
                    continue
                for event in parser.feed(line):
                    conn.send(event)
                    if isinstance(event, TurnResult) and not saw_result:
                        saw_result = True
                        # The answer is in; the process now only gets a short grace to exit.
                        deadline = min(deadline, time.monotonic() + spec.result_grace)
    # Both streams closed: wait for the exit itself within what is left of the deadline.
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return ("lingered" if saw_result else "budget"), saw_result
    return "exited", saw_result


def _end_group(proc: subprocess.Popen[bytes], grace: float) -> int | None:
    """Terminate the brain's whole process group and reap the brain itself."""
    pgid = proc.pid
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Tools the brain started may survive it in the same group; SIGKILL them regardless.
    _signal_group(pgid, signal.SIGKILL)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
