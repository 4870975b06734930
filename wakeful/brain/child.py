"""The brain runner: the code that runs inside a turn's child process.

Everything here executes in the forked child (started from the fork server, so it
inherits no threads and no sockets of the service). It launches the brain command in
a new process group with the environment it is given and nothing else, talks to it
over a stdin pipe in the CLI's stream-json input (wakeful/brain/session_protocol.py:
the prompt is the first user message, never argv, which `ps` shows; follow-ups and
interrupts from the parent are written while the turn runs), turns its stdout into
typed events for the parent, enforces the turn's timers and, on the way out, kills
the whole group and reaps every descendant, so nothing outlives the turn.
Single-threaded on purpose: one selector loop over the brain's stdout, stderr and
stdin (written without blocking, from a buffer), the service's pipe and the fork
server's death.

When the turn is over: once a result arrives that leaves no written message
unanswered (the result's `user_message_uuids`, else every message echoed before it),
stdin is closed and the CLI exits by itself (0), its session saved. A follow-up the
CLI has not taken when a result arrives runs as the next turn of the same process,
so the loop waits for the next result.

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
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from wakeful.brain import procfs, session_protocol
from wakeful.brain.events import (
    ApprovalNeeded,
    ControlRequest,
    MessageLifecycle,
    MessageTaken,
    SessionStarted,
    TurnResult,
)
from wakeful.brain.leftovers import process_start_time
from wakeful.brain.stream_json import MAX_LINE_BYTES, StreamJsonParser
from wakeful.brain.timers import TimerLimits, TurnTimers

CANCEL = "cancel"
# Parent -> a warm child with no turn: end the brain process (EOF first, so the CLI
# exits by itself with its session saved).
CLOSE = "close"
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
    # Seconds the brain process may wait for the chat's next turn once this one is
    # answered (0: it ends with the turn). The parent decides when it really closes.
    keep_warm: float = 0.0


@dataclass(frozen=True)
class NextTurn:
    """Parent -> a warm child: run this turn in the brain process that is waiting."""

    spec: TurnSpec


@dataclass(frozen=True)
class WarmExpired:
    """Child -> parent: `keep_warm` passed without a turn. The parent answers CLOSE, or
    has already sent the NextTurn that crossed this on the pipe."""


@dataclass(frozen=True)
class FollowUp:
    """Parent -> child: write this user message into the running session now
    (interrupt: first end the running turn, then the session goes on with it)."""

    uuid: str
    text: str
    interrupt: bool = False


@dataclass(frozen=True)
class ApprovalDecision:
    """Parent -> child: the answer to an ApprovalNeeded (`message`: what the model reads
    when the tool is denied)."""

    request_id: str
    allow: bool
    message: str = ""


@dataclass(frozen=True)
class FollowUpDropped:
    """Child -> parent: that follow-up was not written (the turn is already ending)."""

    uuid: str


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
    # The turn's final result was seen: one that left no written message unanswered
    # (an earlier result, while a follow-up waits for its own turn, does not count).
    saw_result: bool
    progressed: bool = False  # the model showed signs of work (beyond the CLI's init)
    last_garbage: str | None = None
    strays_killed: int = 0  # descendants that had left the group and were killed anyway
    # The turn is over and the brain process stays, waiting for a NextTurn or CLOSE (the
    # pipe then carries one more, final report when the process ends).
    warm: bool = False


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
    try:
        session = _Session(proc, conn, spec, fork_server_gone)
    except BaseException:
        _end_group(proc, spec.kill_grace)  # nothing may outlive the turn, even our bug
        raise
    reason = "exited"
    try:
        start_time = process_start_time(proc.pid)
        while True:
            conn.send(Spawned(proc.pid, start_time))
            session.announce()
            reason = session.pump()
            if reason != WARM:
                break
            conn.send(session.report(0, session.ending(), warm=True))
            ending = session.wait_for_turn()
            if isinstance(ending, str):
                reason = ending
                break
            session.begin(ending)
    except BrokenPipeError:
        reason = "parent_gone"  # the service died while we were telling it something
    finally:
        session.close_stdin_now()
        exit_code = _end_group(proc, session.kill_grace)
        strays = _reap_descendants(proc.pid, session.kill_grace)
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send(session.report(exit_code, reason, strays=strays))


def _spawn(spec: TurnSpec) -> subprocess.Popen[bytes]:
    if spec.cwd is not None:
        os.makedirs(spec.cwd, mode=0o700, exist_ok=True)
    return subprocess.Popen(
        spec.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=spec.env,
        cwd=spec.cwd,
        start_new_session=True,  # own process group: one killpg reaches every tool it runs
        preexec_fn=_die_with(os.getpid(), _libc_prctl()),
        close_fds=True,
    )


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


class _Stdin:
    """The brain's stdin: lines wait in a buffer and go out as the pipe takes them, so a
    100 KB prompt, or a brain that never reads, cannot block the loop."""

    def __init__(self, proc: subprocess.Popen[bytes], sel: selectors.BaseSelector) -> None:
        assert proc.stdin is not None
        self._file = proc.stdin
        self._fd = proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        self._sel = sel
        self._buffer = bytearray()
        self._registered = False
        self.closing = False  # no more lines: close once the buffer is out
        self.closed = False

    def write(self, line: bytes) -> bool:
        """Queue a line (made by session_protocol); False once stdin is closing."""
        if self.closing or self.closed:
            return False
        self._buffer += line
        self.flush()
        return True

    def close(self) -> None:
        """Close as soon as what is queued has been written (the brain then sees EOF)."""
        self.closing = True
        self.flush()

    def close_now(self) -> None:
        self._buffer.clear()
        self._close()

    def flush(self) -> None:
        while self._buffer and not self.closed:
            try:
                written = os.write(self._fd, self._buffer[:65536])
            except BlockingIOError:
                break
            except OSError:  # the brain closed its stdin, or died: nobody reads it any more
                self.close_now()
                return
            del self._buffer[:written]
        if self.closing and not self._buffer:
            self._close()
            return
        self._watch(bool(self._buffer) and not self.closed)

    def _watch(self, wanted: bool) -> None:
        if wanted and not self._registered:
            self._sel.register(self._fd, selectors.EVENT_WRITE, "in")
        elif not wanted and self._registered:
            self._sel.unregister(self._fd)
        self._registered = wanted

    def _close(self) -> None:
        if self.closed:
            return
        self._watch(False)
        self.closed = True
        with contextlib.suppress(OSError):
            self._file.close()


WARM = "warm"  # pump(): the turn is answered and the process waits for the next one


class _Session:
    """The brain process's selector loop: its output in, our messages out, one turn at a
    time (several, when the process is kept warm between turns)."""

    def __init__(self, proc: subprocess.Popen[bytes], conn: Connection, spec: TurnSpec,
                 fork_server_gone: int) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.conn = conn
        self.fork_server_gone = fork_server_gone
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ, "out")
        self.sel.register(proc.stderr, selectors.EVENT_READ, "err")
        self.sel.register(conn, selectors.EVENT_READ, "parent")
        self.sel.register(fork_server_gone, selectors.EVENT_READ, "fork_server")
        self.stdin = _Stdin(proc, self.sel)
        self.buffers = {"out": b"", "err": b""}
        self.open_streams = 2
        # The session's init, sent again at the start of each later turn of a warm
        # process: the CLI prints it once, and each turn must name its session.
        self.session_started: SessionStarted | None = None
        self.turns = 0
        self.begin(spec)

    def begin(self, spec: TurnSpec) -> None:
        """A turn starts: fresh timers and bookkeeping, its message on stdin."""
        self.turns += 1
        self.kill_grace = spec.kill_grace
        self.keep_warm = spec.keep_warm
        self.parser = StreamJsonParser()
        self.timers = TurnTimers(spec.limits, time.monotonic())
        self.first_uuid = session_protocol.new_uuid()
        # Written messages no result has answered yet (insertion-ordered), and the ones
        # the brain has taken (echoed) so far.
        self.unanswered: dict[str, None] = {self.first_uuid: None}
        self.taken: set[str] = set()
        self.results = 0
        # Tool approvals the CLI waits for: request id -> the tool's input (sent back
        # with an allow).
        self.approvals: dict[str, dict[str, Any]] = {}
        self.cancel_deadline: float | None = None
        self.stopped: set[str] = set()  # queued follow-ups interrupted after a cancel
        self.answered = False  # the turn's final result came, and the process stays
        self.stdin.write(session_protocol.user_message(spec.prompt, self.first_uuid))

    def announce(self) -> None:
        if self.turns > 1 and self.session_started is not None:
            self.conn.send(self.session_started)

    def report(self, exit_code: int | None, reason: str, strays: int = 0,
               warm: bool = False) -> ChildReport:
        parser, timers = self.parser, self.timers
        return ChildReport(
            exit_code, reason, parser.garbage_lines, "\n".join(self.stderr_tail)[-2000:],
            timers.result_at is not None, timers.progressed, parser.last_garbage, strays,
            warm,
        )

    def ending(self) -> str:
        """Why a turn answered in full ended: a cancel the CLI obeyed, or its answer."""
        return "cancelled" if self.cancel_deadline is not None else "exited"

    def close_stdin_now(self) -> None:
        self.stdin.close_now()

    def pump(self) -> str:
        """Forward events until the brain closes its output, a timer expires, we are told
        to stop, or (WARM) the turn is answered and the process is to wait for the next."""
        while self.open_streams:
            deadline, expiry = self._deadline()
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return expiry
            for key, _ in self.sel.select(timeout):
                if key.data == "in":
                    self.stdin.flush()
                    continue
                if key.data == "parent":
                    if (ending := self._from_parent()) is not None:
                        return ending
                    continue
                if key.data == "fork_server":
                    if FORK_SERVER_GONE in os.read(self.fork_server_gone, 512):
                        return "parent_gone"
                    continue
                for line in self._read(key):
                    self._forward(line)
                if self.answered:
                    return WARM
        # Both streams closed: wait for the exit itself, within whichever timer is running.
        self.stdin.close_now()
        deadline, expiry = self._deadline()
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return expiry
        return "cancelled" if self.cancel_deadline is not None else "exited"

    def _read(self, key: selectors.SelectorKey) -> list[bytes]:
        """Whole stdout lines from one read (stderr's go to the tail); [] at EOF too."""
        buffers = self.buffers
        chunk = os.read(key.fd, 65536)
        if not chunk:
            self.sel.unregister(key.fileobj)
            self.open_streams -= 1
            lines = [buffers[key.data]] if buffers[key.data] else []
            buffers[key.data] = b""
        else:
            *lines, buffers[key.data] = (buffers[key.data] + chunk).split(b"\n")
            if len(buffers[key.data]) > MAX_LINE_BYTES:
                # A line without end must not grow without end: hand it over as it is.
                lines.append(buffers[key.data])
                buffers[key.data] = b""
        if key.data == "err":
            self.stderr_tail.extend(line[:500].decode(errors="replace") for line in lines)
            return []
        return lines

    def wait_for_turn(self) -> TurnSpec | str:
        """Between turns: the next turn's spec, or why the process ends now.

        After `keep_warm` seconds the parent hears WarmExpired (once) and decides: it
        answers CLOSE, or a NextTurn it sent meanwhile arrives first. A stale CANCEL,
        follow-up or approval of the turn that just ended changes nothing.
        """
        expires: float | None = time.monotonic() + self.keep_warm
        while self.open_streams == 2:
            timeout = None if expires is None else expires - time.monotonic()
            if timeout is not None and timeout <= 0:
                self.conn.send(WarmExpired())
                expires = None
                continue
            for key, _ in self.sel.select(timeout):
                if key.data == "in":
                    self.stdin.flush()
                elif key.data == "parent":
                    try:
                        item = self.conn.recv()
                    except (EOFError, OSError):
                        return "parent_gone"
                    if isinstance(item, NextTurn):
                        return item.spec
                    if item == CLOSE:
                        return self._close()
                elif key.data == "fork_server":
                    if FORK_SERVER_GONE in os.read(self.fork_server_gone, 512):
                        return "parent_gone"
                else:
                    self._read(key)  # nothing is asked: whatever it says is dropped
        return "exited"  # the brain ended by itself while it waited

    def _close(self) -> str:
        """EOF, then give the CLI kill_grace to exit by itself (the group dies after)."""
        self.stdin.close()
        deadline = time.monotonic() + self.kill_grace
        while self.open_streams and (left := deadline - time.monotonic()) > 0:
            for key, _ in self.sel.select(left):
                if key.data in ("out", "err"):
                    self._read(key)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        return "exited"

    def _deadline(self) -> tuple[float, str]:
        deadline, expiry = self.timers.expiry()
        if self.cancel_deadline is not None and self.cancel_deadline <= deadline:
            return self.cancel_deadline, "cancelled"
        return deadline, expiry.value

    def _from_parent(self) -> str | None:
        """Act on one item from the service; the turn's ending reason, if it ends now."""
        try:
            item = self.conn.recv()
        except (EOFError, OSError):
            return "parent_gone"
        if item == CANCEL:
            self._cancel()
        elif isinstance(item, FollowUp):
            self._follow_up(item)
        elif isinstance(item, ApprovalDecision):
            self._approval(item)
        return None

    def _approval(self, decision: ApprovalDecision) -> None:
        tool_input = self.approvals.pop(decision.request_id, None)
        if tool_input is None:
            return  # not a question of this process (an earlier attempt's), or answered
        if not self.stdin.closing and not self.stdin.closed:
            self.stdin.write(
                session_protocol.permission_allow(decision.request_id, tool_input)
                if decision.allow else
                session_protocol.permission_deny(decision.request_id, decision.message))
        if not self.approvals:
            self.timers.resume(time.monotonic())

    def _cancel(self) -> None:
        """End the turn the way a user would: interrupt, so the CLI ends the turn with
        its session saved; then it waits warm for the next turn, or (keep_warm 0) EOF
        lets it exit. Without a result within kill_grace the group is killed."""
        if self.cancel_deadline is not None:
            return
        self.cancel_deadline = time.monotonic() + self.kill_grace
        if self.stdin.closing:
            return
        self._interrupt()
        if not self._queued() and self.keep_warm <= 0:
            self.stdin.close()
        # else a follow-up waits in the CLI's queue and would run as the next turn even
        # after EOF: it is interrupted too when it starts (_forward), and stdin closes
        # once every message has its result (_result).

    def _queued(self) -> list[str]:
        """Follow-ups written but not yet taken by the brain."""
        return [u for u in self.unanswered if u != self.first_uuid and u not in self.taken]

    def _began(self, message_uuid: str) -> None:
        """Cancelled, and a queued follow-up's turn starts anyway: end it at once."""
        if (self.cancel_deadline is None or self.stdin.closing
                or message_uuid == self.first_uuid or message_uuid in self.stopped
                or message_uuid not in self.unanswered):
            return
        self.stopped.add(message_uuid)
        self._interrupt()

    def _interrupt(self) -> None:
        self.stdin.write(session_protocol.interrupt(session_protocol.new_uuid()))

    def _follow_up(self, follow_up: FollowUp) -> None:
        if self.stdin.closing or self.stdin.closed or self.cancel_deadline is not None:
            self.conn.send(FollowUpDropped(follow_up.uuid))
            return
        if follow_up.interrupt:
            self._interrupt()
        self.unanswered[follow_up.uuid] = None
        self.stdin.write(session_protocol.user_message(follow_up.text, follow_up.uuid))

    def _forward(self, line: bytes) -> None:
        parser, timers = self.parser, self.timers
        lines, progress = parser.lines, parser.progress_lines
        events = parser.feed(line)
        now = time.monotonic()
        if parser.lines > lines:
            timers.line(now, progress=parser.progress_lines > progress)
        for event in events:
            if isinstance(event, ControlRequest) and event.subtype == "can_use_tool":
                event = self._approval_needed(event)
            self.conn.send(event)
            if isinstance(event, SessionStarted):
                self.session_started = event
            elif isinstance(event, MessageTaken):
                self.taken.add(event.uuid)
                self._began(event.uuid)
            elif isinstance(event, MessageLifecycle) and event.state == "started":
                self._began(event.uuid)  # the CLI says so before its first API call
            elif isinstance(event, TurnResult):
                self._result(event, now)

    def _approval_needed(self, request: ControlRequest) -> ApprovalNeeded:
        """The CLI waits for a person: the parent asks the chat; the idle clock stops."""
        name, tool_input = request.request.get("tool_name"), request.request.get("input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        self.approvals[request.request_id] = tool_input
        self.timers.pause()
        return ApprovalNeeded(request.request_id, name if isinstance(name, str) else "?",
                              tool_input)

    def _result(self, result: TurnResult, now: float) -> None:
        self.results += 1
        if result.message_uuids is not None:
            answered = set(result.message_uuids)
        else:
            answered = set(self.taken)
        if self.results == 1:
            # The first result answers the prompt, even from a brain that does not echo.
            answered.add(self.first_uuid)
        for message_uuid in answered:
            self.unanswered.pop(message_uuid, None)
        if not self.unanswered:
            self.timers.result(now)
            if self.keep_warm > 0 and not self.stdin.closing:
                self.answered = True  # the process waits for the chat's next turn
            else:
                # The whole turn is answered: EOF lets the CLI exit, its session saved.
                self.stdin.close()


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
