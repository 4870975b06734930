"""LocalRunner: each turn a child of this machine's fork server (wakeful/brain/process.py).

The pool's cap is the only limit here; `slots` is the same number, so `capacity()`
says the truth to anyone who asks outside the pool.
"""

from __future__ import annotations

import threading

from wakeful.brain import process
from wakeful.brain.child import ApprovalDecision, FollowUp, TurnSpec
from wakeful.brain.process import BrainProcess
from wakeful.brain.runner import OnExit, OnItem, RunnerStatus, RunnerUnavailable


class LocalTurn:
    """A BrainProcess seen through the TurnHandle protocol."""

    node: str | None = None
    local = True

    def __init__(self, brain: BrainProcess) -> None:
        self._brain = brain

    def cancel(self) -> None:
        self._brain.cancel()

    def send(self, follow_up: FollowUp | ApprovalDecision) -> bool:
        self._brain.send(follow_up)
        return True

    def kill(self) -> None:
        self._brain.kill()


class LocalRunner:
    kind = "local"

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._running = 0
        # Exits are counted on the turns' reader threads, starts on the pool's.
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        process.warm_up()

    def accepts(self, chat_id: int) -> bool:
        return self.capacity() > 0

    def capacity(self) -> int:
        with self._lock:
            return self._slots - self._running

    def start(self, spec: TurnSpec, chat_id: int, on_item: OnItem,
              on_exit: OnExit) -> LocalTurn:
        with self._lock:
            if self._running >= self._slots:
                raise RunnerUnavailable(f"all {self._slots} local slots are busy")
            self._running += 1

        def ended(code: int | None) -> None:
            """Runs on the turn's reader thread."""
            with self._lock:
                self._running -= 1
            on_exit(code)

        brain = BrainProcess(spec, on_item=on_item, on_exit=ended)
        try:
            brain.start()
        except BaseException:
            with self._lock:
                self._running -= 1
            raise
        return LocalTurn(brain)

    def status(self) -> RunnerStatus:
        return RunnerStatus(self.kind, "ready")

    def close(self) -> None:
        """Nothing to release: each turn's child is killed by the pool before this."""
