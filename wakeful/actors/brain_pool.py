"""BrainPool: the one place that decides brain concurrency.

A turn runs in a child process (wakeful/brain/process.py); this actor only admits
turns under the cap, in FIFO order, at most one per chat, and turns what the child
reports into messages for the chat. Nothing here blocks: child output arrives as
messages from each turn's reader thread.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wakeful.brain.child import ChildReport, Spawned, TurnSpec
from wakeful.brain.events import ApiRetry, BrainEvent, SessionStarted, ToolUse, TurnResult
from wakeful.brain.outcome import summarize
from wakeful.brain.process import BrainProcess
from wakeful.config import BrainConfig
from wakeful.messages import (
    BrainOutput,
    BrainProcessEnded,
    TurnCancelRequested,
    TurnDeadlinePassed,
    TurnFinished,
    TurnProgressed,
    TurnQueued,
    TurnRequested,
    TurnStarted,
)
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

# Events worth forwarding to the chat mid-turn (for live status); text comes at the end.
_PROGRESS = (ApiRetry, ToolUse, SessionStarted)


def chat_address(chat_id: int) -> str:
    return f"chat:{chat_id}"


@dataclass
class _Running:
    request: TurnRequested
    process: BrainProcess
    started_at: float
    events: list[BrainEvent] = field(default_factory=list)
    report: ChildReport | None = None
    cancelled: bool = False


class BrainPool(SupervisedActor):
    def __init__(self, ctx: ChildContext, config: BrainConfig) -> None:
        super().__init__(ctx)
        self.config = config
        self._waiting: deque[TurnRequested] = deque()
        self._running: dict[str, _Running] = {}
        self._seq = itertools.count(1)
        self.peak_running = 0
        self.turns_started = 0
        self.turns_failed = 0

    # --- lifecycle -------------------------------------------------------------------

    def stopping(self) -> None:
        for run in self._running.values():
            run.process.kill()

    def snapshot(self) -> dict[str, Any]:
        now = self.ctx.clock.monotonic()
        return {
            "cap": self.config.max_concurrent,
            "running": [
                {"turn": t, "chat": r.request.chat_id, "pid": r.process.brain_pid,
                 "seconds": round(now - r.started_at, 1)}
                for t, r in self._running.items()
            ],
            "waiting": [w.chat_id for w in self._waiting],
            "peak_running": self.peak_running,
            "turns_started": self.turns_started,
            "turns_failed": self.turns_failed,
        }

    # --- messages --------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        match message:
            case TurnRequested():
                self._on_requested(message)
            case BrainOutput():
                self._on_output(message)
            case BrainProcessEnded():
                self._on_ended(message)
            case TurnDeadlinePassed(turn_id=turn_id):
                self._on_deadline(turn_id)
            case TurnCancelRequested():
                self._on_cancel(message)
            case _:
                return super().handle(message)
        return None

    def _on_requested(self, request: TurnRequested) -> None:
        self._waiting.append(request)
        self._admit()
        for position, waiting in enumerate(self._waiting, start=1):
            if waiting is request:
                self._tell_chat(request.chat_id,
                                TurnQueued(request.chat_id, request.turn_id, position))

    def _admit(self) -> None:
        busy_chats = {r.request.chat_id for r in self._running.values()}
        for request in list(self._waiting):
            if len(self._running) >= self.config.max_concurrent:
                return
            if request.chat_id in busy_chats:
                continue  # one turn per chat at a time; it keeps its place in line
            self._waiting.remove(request)
            busy_chats.add(request.chat_id)
            self._start_turn(request)

    def _start_turn(self, request: TurnRequested) -> None:
        internal_id = f"t{next(self._seq)}"
        pool, turn_id = self.actor_ref, internal_id
        spec = TurnSpec(
            turn_id=internal_id,
            argv=self._argv(request.session_id),
            prompt=request.prompt,
            env=self._env(),
            cwd=self.config.workdir,
            budget=self.config.turn_budget,
            kill_grace=self.config.kill_grace,
        )
        process = BrainProcess(
            spec,
            on_item=lambda item: tell_quietly(pool, BrainOutput(turn_id, item)),
            on_exit=lambda code: tell_quietly(pool, BrainProcessEnded(turn_id, code)),
        )
        self._running[internal_id] = _Running(request, process, self.ctx.clock.monotonic())
        self.turns_started += 1
        self.peak_running = max(self.peak_running, len(self._running))
        try:
            process.start()
        except OSError as exc:
            log.error("cannot start a brain process: %s", exc)
            self._finish(internal_id, None, None, f"cannot start a brain process: {exc}")
            return
        # Backstop in case the child itself wedges: it enforces the budget, we enforce it on it.
        self.tell_later(self.config.turn_budget + 2 * self.config.kill_grace + 5.0,
                        TurnDeadlinePassed(internal_id))
        self._tell_chat(request.chat_id, TurnStarted(request.chat_id, request.turn_id))

    def _argv(self, session_id: str | None) -> tuple[str, ...]:
        argv = tuple(self.config.command)
        if session_id:
            argv += (self.config.resume_flag, session_id)
        return argv

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in self.config.env_passthrough if k in os.environ}
        env.update(self.config.env)
        return env

    def _on_output(self, output: BrainOutput) -> None:
        run = self._running.get(output.turn_id)
        if run is None:
            return
        item = output.item
        if isinstance(item, ChildReport):
            run.report = item
        elif isinstance(item, Spawned):
            log.debug("turn %s: brain pid %d", output.turn_id, item.pid)
        else:
            run.events.append(item)
            if isinstance(item, _PROGRESS) and not isinstance(item, TurnResult):
                self._tell_chat(run.request.chat_id,
                                TurnProgressed(run.request.chat_id, run.request.turn_id, item))

    def _on_ended(self, ended: BrainProcessEnded) -> None:
        run = self._running.get(ended.turn_id)
        if run is None:
            return
        self._finish(ended.turn_id, run.report, ended.exitcode, None)

    def _on_deadline(self, turn_id: str) -> None:
        run = self._running.get(turn_id)
        if run is not None:
            log.error("turn %s: worker did not end after its budget; killing it", turn_id)
            run.process.kill()

    def _on_cancel(self, cancel: TurnCancelRequested) -> None:
        for run in self._running.values():
            if run.request.turn_id == cancel.turn_id:
                run.cancelled = True
                run.process.cancel()
                return
        for waiting in list(self._waiting):
            if waiting.turn_id == cancel.turn_id:
                self._waiting.remove(waiting)
                self._tell_chat(waiting.chat_id, TurnFinished(
                    waiting.chat_id, waiting.turn_id, ok=False, text="", error="cancelled"))

    def _finish(self, turn_id: str, report: ChildReport | None, exitcode: int | None,
                error: str | None) -> None:
        run = self._running.pop(turn_id)
        outcome = summarize(run.events, report, exitcode, self.config.turn_budget)
        if error is not None:
            outcome = type(outcome)(False, "", error, outcome.session_id, outcome.cost_usd)
        if not outcome.ok:
            self.turns_failed += 1
            log.warning("turn %s for chat %s failed: %s", turn_id, run.request.chat_id,
                        outcome.error)
        request = run.request
        self._tell_chat(request.chat_id, TurnFinished(
            request.chat_id, request.turn_id, ok=outcome.ok, text=outcome.text,
            session_id=outcome.session_id, error=outcome.error, cost_usd=outcome.cost_usd,
            duration_s=round(self.ctx.clock.monotonic() - run.started_at, 3),
        ))
        self._admit()

    def _tell_chat(self, chat_id: int, message: Any) -> None:
        self.ctx.directory.tell(chat_address(chat_id), message)
