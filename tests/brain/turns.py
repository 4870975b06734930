"""One brain turn run by hand (no actors): a BrainProcess with the stand-in, its pipe items kept.

Shared by the signal tests and by `play_service`, the stand-in for a whole service
that a test can SIGKILL.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wakeful.brain import procfs, standin
from wakeful.brain.child import ChildReport, Spawned, TurnSpec
from wakeful.brain.events import BrainEvent
from wakeful.brain.process import BrainProcess

GUARD = 10.0  # generous: every wait below ends as soon as its condition holds


def wait_until(condition: Callable[[], Any], what: str, timeout: float = GUARD) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def group_alive(pgid: int) -> bool:
    """Some process of the group still exists (a brain and its tools, zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie may wait for a lazy init)."""
    found = procfs.stat(pid)
    return found is not None and found.state != "Z"


class Turn:
    """A started turn; items arrive on its reader thread, tests read them from theirs."""

    def __init__(self, prompt: str, tmp_path: Path, delay: float = 0.2) -> None:
        self.tools_file = tmp_path / "tools"
        spec = TurnSpec(
            turn_id="by-hand", argv=standin.turn_argv(delay), prompt=prompt,
            env={"WAKEFUL_STANDIN_CHILDREN": str(self.tools_file)}, kill_grace=1.0,
        )
        self.items: list[Any] = []
        self.exitcode: int | None = None
        self._ended = threading.Event()
        self.process = BrainProcess(spec, self.items.append, self._exit)
        self.process.start()

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.ended():  # a failed test must not leave a brain behind
            self.process.kill()

    def _exit(self, code: int | None) -> None:
        self.exitcode = code
        self._ended.set()

    @property
    def child_pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def spawned(self) -> Spawned:
        found: Spawned = wait_until(
            lambda: next((i for i in self.items if isinstance(i, Spawned)), None), "Spawned")
        return found

    def tools(self, count: int) -> list[int]:
        """Pids of the `count` processes the stand-in started ([[spawn-child]])."""
        def listed() -> list[int]:
            text = self.tools_file.read_text() if self.tools_file.exists() else ""
            pids = [int(line) for line in text.split()]
            return pids if len(pids) >= count else []
        pids: list[int] = wait_until(listed, "the brain's tools")
        return pids

    def ended(self) -> bool:
        return self._ended.is_set()

    def wait(self) -> ChildReport | None:
        """Wait for the child to exit; its report, if it sent one."""
        wait_until(self._ended.is_set, "the turn's child to exit")
        return next((i for i in self.items if isinstance(i, ChildReport)), None)

    @property
    def events(self) -> list[BrainEvent]:
        return [i for i in self.items if not isinstance(i, ChildReport | Spawned)]
