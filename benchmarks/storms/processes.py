"""A contender's process as /proc sees it: its own CPU time, its descendants, its stop.

Only the contender's main pid counts for CPU: wakeful's fork server and brain turns are
other processes (the stand-in brain is the benchmark's, not the service's work).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.storms.contenders import Launch

TERM_GRACE = 30.0  # SIGTERM, then SIGKILL after this long
ORPHAN_GRACE = 2.0  # after the service exits, its children get this long to follow

Key = tuple[int, int]  # (pid, start time in ticks): a pid alone may be reused


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first), or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) is in parentheses and may contain anything, spaces included.
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float | None:
    """utime + stime (fields 14 and 15) of this one process, in seconds."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(key: Key) -> bool:
    fields = _stat(key[0])
    return fields is not None and fields[0] not in "ZX" and int(fields[19]) == key[1]


def descendants(pid: int) -> set[Key]:
    """Every process below `pid` (children, grandchildren, ...), walked through /proc."""
    children: dict[int, list[Key]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    found: set[Key] = set()
    todo = [pid]
    while todo:
        for key in children.get(todo.pop(), ()):
            if key not in found:
                found.add(key)
                todo.append(key[0])
    return found


@dataclass(frozen=True)
class Stopped:
    returncode: int
    seconds: float  # from SIGTERM until the main process was gone
    killed: bool  # it needed SIGKILL
    leftovers: int  # descendants still alive ORPHAN_GRACE after it exited (now killed)


class ContenderProcess:
    def __init__(self, launch: Launch, output: Path) -> None:
        self.output = output
        with output.open("wb") as sink:
            # Its own session: a Ctrl-C at the terminal reaches the harness only, which
            # then stops the contender the way it stops every contender.
            self._proc = subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self._proc.pid
        self.started = time.monotonic()

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid)

    def tail(self, lines: int = 25) -> list[str]:
        try:
            text = self.output.read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]

    def stop(self) -> Stopped:
        """SIGTERM; SIGKILL after TERM_GRACE; then kill every descendant still alive."""
        known = descendants(self.pid)
        started = time.monotonic()
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        killed = False
        while self._proc.poll() is None:
            if time.monotonic() - started > TERM_GRACE:
                self._proc.kill()
                killed = True
                self._proc.wait()
                break
            known |= descendants(self.pid)
            time.sleep(0.05)
        seconds = time.monotonic() - started
        deadline = time.monotonic() + ORPHAN_GRACE
        while any(_alive(key) for key in known) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [key for key in known if _alive(key)]
        for pid, _ in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return Stopped(self._proc.returncode, seconds, killed, len(left))
