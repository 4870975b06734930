"""The brain runner: the code that runs inside a turn's child process.

Everything here executes in the forked child (started from the fork server, so it
inherits no threads and no sockets of the service). It launches the brain command in
a new process group with the environment it is given and nothing else, feeds it the
prompt through an already-unlinked 0600 file on stdin (never argv, which `ps` shows;
stdin is at EOF after the prompt, so the CLI never waits on it), turns its stdout into
typed events for the parent, enforces the turn's timers and, on the way out, kills
the whole group and reaps every descendant, so nothing outlives the turn.
Single-threaded on purpose: one selector loop over the brain's stdout, stderr, the
service's pipe and the fork server's death.

Nothing outlives the service either. The turn ends (and kills the group) when the
service's pipe hits EOF or when the fork server dies (the kernel signals us, see
`_watch_fork_server`); if this process itself is killed, the kernel kills the brain
(its parent-death signal, set between fork and exec) and the service kills what is
left in the group. SIGINT and SIGTERM from outside are ignored here: a Ctrl-C or
systemd's stop reaches every process of the service, and what a shutdown does to the
turns is the service's decision, sent over the pipe.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from wakeful.brain import procfs
from wakeful.brain.events import TurnResult
from wakeful.brain.leftovers import process_start_time
from wakeful.brain.stream_json import MAX_LINE_BYTES, StreamJsonParser
from wakeful.brain.timers import TimerLimits, TurnTimers

CANCEL = "cancel"
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# What the kernel sends this process when the fork server (its parent) dies: not a
# signal anyone sends by habit, and never one the service uses.
FORK_SERVER_GONE = signal.SIGUSR1
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
    # /proc's start time (clock ticks since boot): with the pid, it tells this brain's
    # group from a later process that reuses the pid (see leftovers.kill_leftover_group).
    start_time: int | None


@dataclass(frozen=True)
class ChildReport:
    """Last item on the pipe: how the brain process ended."""

    exit_code: int | None
    # "exited", "cancelled", "parent_gone", "spawn_failed", or an Expiry value; "node_lost"
    # is written by a remote runner for a child it lost with its node (outcome.NODE_LOST)
    reason: str
    garbage_lines: int
    stderr_tail: str
    saw_result: bool
    progressed: bool = False  # the model showed signs of work (beyond the CLI's init)
    last_garbage: str | None = None
    strays_killed: int = 0  # descendants that had left the group and were killed anyway


def run_turn(spec: TurnSpec, conn: Connection) -> None:
    """Entry point of the child process (runs in the turn's child, not in the service)."""
    fork_server = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fork_server_gone = _watch_fork_server(fork_server)
    # Orphans of the brain (tools it started) get re-parented here, so we can reap them.
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        _run(spec, conn, fork_server_gone)
    finally:
        conn.close()


def _watch_fork_server(fork_server: int) -> int:
    """Make the fork server's death readable on the returned fd (runs in the turn's child).

    A signal, not an exception: the handler only wakes the selector loop, which ends
    the turn like any other ending, and a late signal cannot break the cleanup.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.signal(FORK_SERVER_GONE, _wake_only)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    _prctl(_PR_SET_PDEATHSIG, FORK_SERVER_GONE)
    if os.getppid() != fork_server:
        # It died before the prctl, so the kernel will not tell us: tell ourselves.
        os.kill(os.getpid(), FORK_SERVER_GONE)
    return read_fd


def _wake_only(signum: int, frame: object) -> None:
    """Python needs a handler to write to the wakeup fd; the loop does the rest."""


def _libc_prctl() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    return None  # not Linux


def _prctl(option: int, value: int) -> None:
    if (prctl := _libc_prctl()) is not None:
        prctl(option, value, 0, 0, 0)


def _run(spec: TurnSpec, conn: Connection, fork_server_gone: int) -> None:
    try:
        proc = _spawn(spec)
    except OSError as exc:
        conn.send(ChildReport(None, "spawn_failed", 0, f"cannot start {spec.argv[0]}: {exc}",
                              False))
        return
    parser = StreamJsonParser()
    stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
    timers = TurnTimers(spec.limits, time.monotonic())
    reason = "exited"
    try:
        conn.send(Spawned(proc.pid, process_start_time(proc.pid)))
        reason = _pump(proc, conn, parser, stderr_tail, timers, fork_server_gone)
    except BrokenPipeError:
        reason = "parent_gone"  # the service died while we were telling it something
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
            preexec_fn=_die_with(os.getpid(), _libc_prctl()),
            close_fds=True,
        )
    finally:
        os.close(fd)


def _die_with(turn_child: int, prctl: Callable[..., int] | None) -> Callable[[], None]:
    """What the brain's process does between fork and exec, so it dies with this one."""

    def preexec() -> None:
        """Runs in the brain's process before exec (safe: the turn's child has one thread)."""
        # Our SIG_IGN would survive exec; the brain must stay stoppable like any program.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != turn_child:
            os._exit(1)  # the turn's child died before the prctl: nobody would kill us

    return preexec


def _pump(
    proc: subprocess.Popen[bytes],
    conn: Connection,
    parser: StreamJsonParser,
    stderr_tail: deque[str],
    timers: TurnTimers,
    fork_server_gone: int,
) -> str:
    """Forward events until the brain closes its output, a timer expires or we are told to stop."""
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    sel.register(conn, selectors.EVENT_READ, "parent")
    sel.register(fork_server_gone, selectors.EVENT_READ, "fork_server")
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
            if key.data == "fork_server":
                if FORK_SERVER_GONE in os.read(fork_server_gone, 512):
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
    return {p.pid: p.pgrp for p in procfs.processes() if p.ppid == me}


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
