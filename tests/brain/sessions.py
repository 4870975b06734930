"""One turn's child run by hand around any brain, for follow-up tests: items kept, the
brain's received messages readable (the stand-in's WAKEFUL_STANDIN_PROMPTS)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.brain.turns import wait_until
from wakeful.brain import standin
from wakeful.brain.child import ChildReport, FollowUpDropped, Spawned, TurnSpec
from wakeful.brain.events import BrainEvent, TextDelta
from wakeful.brain.outcome import Outcome, summarize
from wakeful.brain.process import BrainProcess
from wakeful.brain.timers import TimerLimits

# result_grace as in production: the real CLI takes over a second to exit after an
# interrupted tool (measured: ~1.4 s).
LIMITS = TimerLimits(first_event=15, idle=15, budget=30, result_grace=5.0)


class Session:
    """One turn's child around the stand-in; items arrive on its reader thread."""

    def __init__(self, prompt: str, tmp_path: Path, delay: float = 1.0,
                 resume: str | None = None, argv: tuple[str, ...] | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 limits: TimerLimits = LIMITS, keep_warm: float = 0.0) -> None:
        self.prompts = tmp_path / "prompts.jsonl"
        if argv is None:
            argv = standin.turn_argv(delay)
        if resume:
            argv = (*argv, "--resume", resume)
        if env is None:
            env = {"WAKEFUL_STANDIN_PROMPTS": str(self.prompts),
                   "PATH": os.environ.get("PATH", "")}
        self.limits = limits
        self.spec = spec = TurnSpec(turn_id="s", argv=argv, prompt=prompt, limits=limits,
                                    kill_grace=1.0, env=env, cwd=cwd, keep_warm=keep_warm)
        self.items: list[Any] = []
        self.exitcode: int | None = None
        self._ended = threading.Event()
        # Warm: the test decides what comes next (a runner would keep it for the chat).
        self.process = BrainProcess(spec, self.items.append, self._exit,
                                    on_idle=lambda _brain: None)
        self.process.start()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._ended.is_set():
            self.process.kill()

    def _exit(self, code: int | None) -> None:
        self.exitcode = code
        self._ended.set()

    def of(self, kind: type) -> list[Any]:
        return [i for i in list(self.items) if isinstance(i, kind)]

    def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        found: list[Any] = wait_until(lambda: len(self.of(kind)) >= count and self.of(kind),
                                      f"{count} {kind.__name__}")
        return found

    def report(self) -> ChildReport:
        wait_until(self._ended.is_set, "the turn's child to exit")
        [report] = self.of(ChildReport)
        return report

    def outcome(self) -> Outcome:
        report = self.report()
        events: list[BrainEvent] = [i for i in self.items if not isinstance(
            i, ChildReport | Spawned | FollowUpDropped | TextDelta)]
        return summarize(events, report, self.exitcode, self.limits)

    def received(self) -> list[dict[str, Any]]:
        """What the brain took, one record per message: pid, turn, prompt, during."""
        if not self.prompts.exists():
            return []
        return [json.loads(line) for line in self.prompts.read_text().splitlines()]

    def assert_group_gone(self) -> None:
        [spawned] = self.of(Spawned)
        with pytest.raises(ProcessLookupError):
            os.killpg(spawned.pid, 0)
