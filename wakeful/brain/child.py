"""The brain runner: the code that runs inside a turn's child process.

Everything here executes in the forked child (started from the fork server, so it
inherits no threads and no sockets of the service). It launches the brain command in
a new process group with the environment it is given and nothing else, feeds it the
prompt through an already-unlinked 0600 file on stdin (never argv, which `ps` shows;
stdin is at EOF after the prompt, so the CLI never waits on it), turns its stdout into
typed events for the parent, enforces the turn's timers and, on the way out, kills
the whole group and reaps every descendant, so nothing outlives the turn.
Single-threaded on purpose: one selector loop over the brain's stdout, stderr and the
parent's pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
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
from wakeful.brain.stream_json import MAX_LINE_BYTES, StreamJsonParser
from wakeful.brain.timers import TimerLimits, TurnTimers

CANCEL = "cancel"
_PR_SET_CHILD_SUBREAPER = 36
_STDERR_TAIL_LINES = 40


@dataclass(frozen=True)
class TurnSpec:
    turn_id: str
    argv: tuple[str, ...]
    prompt: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    limits: TimerLimits = field(default_factory=TimerLimits)
    kill_grace: float = 2.0  # SIGTERM -> SIGKILL


@dataclass(frozen=True)
class Spawned:
    """First item on the pipe: the brain's pid, which is also its process group id."""

    pid: int


@dataclass(frozen=True)
class ChildReport:
    """Last item on the pipe: how the brain process ended."""

    exit_code: int | None
    # "exited", "cancelled", "parent_gone", "spawn_failed", or an Expiry value
    reason: str
    garbage_lines: int
    stderr_tail: str
    saw_result: bool
    progressed: bool = False  # the model showed signs of work (beyond the CLI's init)
    last_garbage: str | None = None
    strays_killed: int = 0  # descendants that had left the group and were killed anyway


def run_turn(spec: TurnSpec, conn: Connection) -> None:
    """Entry point of the child process (runs in the turn's child, not in the service)."""
    # The parent signals this process (not the brain's group) to abort; make that
    # path go through the same group kill as every other ending.
    signal.signal(signal.SIGTERM, _interrupt)
    _become_subreaper()
    try:
        _run(spec, conn)
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _become_subreaper() -> None:
    """Orphans of the brain (tools it started) get re-parented here, so we can reap them."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _run(spec: TurnSpec, conn: Connection) -> None:
    try:
        proc = _spawn(spec)
    except OSError as exc:
        conn.send(ChildReport(None, "spawn_failed", 0, f"cannot start {spec.argv[0]}: {exc}",
                              False))
        return
    conn.send(Spawned(proc.pid))
    parser = StreamJsonParser()
    stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
    timers = TurnTimers(spec.limits, time.monotonic())
    reason = "exited"
    try:
        reason = _pump(proc, conn, parser, stderr_tail, timers)
    except KeyboardInterrupt:
        reason = "cancelled"
    finally:
        exit_code = _end_group(proc, spec.kill_grace)
        strays = _reap_descendants(proc.pid, spec.kill_grace)
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send(ChildReport(
                exit_code, reason, parser.garbage_lines, "\n".join(stderr_tail)[-2000:],
                timers.result_at is not None, timers.progressed, parser.last_garbage, strays,
            ))


def _spawn(spec: TurnSpec) -> subprocess.Popen[bytes]:
    if spec.cwd is not None:
        os.makedirs(spec.cwd, mode=0o700, exist_ok=True)
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
    proc: subprocess.Popen[bytes],
    conn: Connection,
    parser: StreamJsonParser,
    stderr_tail: deque[str],
    timers: TurnTimers,
) -> str:
    """Forward events until the brain closes its output, a timer expires or we are told to stop."""
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    sel.register(conn, selectors.EVENT_READ, "parent")
    buffers = {"out": b"", "err": b""}
    open_streams = 2
    while open_streams:
        deadline, expiry = timers.expiry()
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            return expiry.value
        for key, _ in sel.select(timeout):
            if key.data == "parent":
                try:
                    if conn.recv() == CANCEL:
                        return "cancelled"
                except (EOFError, OSError):
                    return "parent_gone"
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                lines = [buffers[key.data]] if buffers[key.data] else []
            else:
                *lines, buffers[key.data] = (buffers[key.data] + chunk).split(b"\n")
                if len(buffers[key.data]) > MAX_LINE_BYTES:
                    # A line without end must not grow without end: hand it over as it is.
                    lines.append(buffers[key.data])
                    buffers[key.data] = b""
            if key.data == "err":
                stderr_tail.extend(line[:500].decode(errors="replace") for line in lines)
                continue
            for line in lines:
                _forward(line, conn, parser, timers)
    # Both streams closed: wait for the exit itself, within whichever timer is running.
    deadline, expiry = timers.expiry()
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return expiry.value
    return "exited"


def _forward(line: bytes, conn: Connection, parser: StreamJsonParser, timers: TurnTimers) -> None:
    lines, progress = parser.lines, parser.progress_lines
    events = parser.feed(line)
    now = time.monotonic()
    if parser.lines > lines:
        timers.line(now, progress=parser.progress_lines > progress)
    for event in events:
        conn.send(event)
        if isinstance(event, TurnResult):
            timers.result(now)


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


def _reap_descendants(pgid: int, grace: float) -> int:
    """Reap every orphan re-parented to us, killing any that left the group to survive.

    Returns how many such strays had to be killed.
    """
    deadline = time.monotonic() + grace
    killed: set[int] = set()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return len(killed)  # no children at all: everything is reaped
        if pid:
            continue
        if time.monotonic() > deadline:
            return len(killed)
        for child, group in _children().items():
            if group == pgid or child in killed:
                continue  # already SIGKILLed with the group; it only has to die
            # A tool that called setsid() escaped the group kill; its turn is over all the same.
            _signal_group(group, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
            killed.add(child)
        time.sleep(0.01)


def _children() -> dict[int, int]:
    """Pid -> process group of every process whose parent is us (Linux /proc; else empty)."""
    me = os.getpid()
    found: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
            fields = stat.rsplit(b")", 1)[-1].split()
            if len(fields) > 2 and int(fields[1]) == me:
                found[int(entry.name)] = int(fields[2])
    return found


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
