"""LocalRunner: each turn a child of this machine's fork server (wakeful/brain/process.py).

The pool's cap is the only limit on turns here; `slots` is the same number, so
`capacity()` says the truth to anyone who asks outside the pool.

With `keep_warm`, a chat's brain process outlives its turn: it waits (idle, no slot)
for the chat's next turn, which then starts without a new process (the CLI's start
and its session load are the cold part of a turn). At most `max_warm` wait at once,
the least recently used is closed first; each is closed after `keep_warm` seconds
without a turn. A turn only goes to the warm process of its chat that runs the same
command, environment and workdir and resumes the very session that process holds;
anything else (a /new, another model) closes it and starts cold.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from wakeful.brain import command, process
from wakeful.brain.child import ApprovalDecision, FollowUp, TurnSpec
from wakeful.brain.process import BrainProcess
from wakeful.brain.runner import OnExit, OnItem, RunnerStatus, RunnerUnavailable

# How long close() waits for the warm processes to end (each gets its kill_grace).
_CLOSE_WAIT = 5.0


class LocalTurn:
    """One turn of a BrainProcess seen through the TurnHandle protocol: a warm process
    serves later turns too, so a late cancel or follow-up of this one must not reach
    them."""

    node: str | None = None
    local = True

    def __init__(self, brain: BrainProcess, turn_id: str) -> None:
        self._brain = brain
        self._turn_id = turn_id

    def cancel(self) -> None:
        if self._brain.serves(self._turn_id):
            self._brain.cancel()

    def send(self, follow_up: FollowUp | ApprovalDecision) -> bool:
        if self._brain.serves(self._turn_id):
            self._brain.send(follow_up)
        return True  # if not, the turn has ended: the pool refuses what was not taken

    def kill(self) -> None:
        if self._brain.serves(self._turn_id):
            self._brain.kill()


class LocalRunner:
    kind = "local"

    def __init__(self, slots: int, max_warm: int = 0) -> None:
        self._slots = slots
        self._max_warm = max_warm
        self._running = 0
        # Idle warm processes by chat, least recently used first.
        self._idle: OrderedDict[int, BrainProcess] = OrderedDict()
        # id(brain) -> chat of every live child, running or warm.
        self._chat_of: dict[int, int] = {}
        self._closed = False
        self.warm_starts = 0
        self.cold_starts = 0
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
            warm = self._idle.pop(chat_id, None)

        def ended(code: int | None) -> None:
            """Runs on the child's reader thread: the turn is over (the process may stay)."""
            with self._lock:
                self._running -= 1
            on_exit(code)

        if warm is not None:
            if _same_session(warm, spec) and warm.next_turn(spec, on_item, ended):
                with self._lock:
                    self.warm_starts += 1
                return LocalTurn(warm, spec.turn_id)
            warm.close()
        brain = BrainProcess(spec, on_item=on_item, on_exit=ended, on_idle=self._went_idle,
                             on_expired=self._expired, on_gone=self._gone)
        with self._lock:
            self._chat_of[id(brain)] = chat_id
            self.cold_starts += 1
        try:
            brain.start()
        except BaseException:
            with self._lock:
                self._running -= 1
                self._chat_of.pop(id(brain), None)
            raise
        return LocalTurn(brain, spec.turn_id)

    # --- warm processes (on their reader threads) ------------------------------------

    def _went_idle(self, brain: BrainProcess) -> None:
        to_close: list[BrainProcess] = []
        with self._lock:
            chat_id = self._chat_of[id(brain)]
            if self._closed or self._max_warm <= 0:
                to_close.append(brain)
            else:
                older = self._idle.pop(chat_id, None)
                if older is not None and older is not brain:
                    to_close.append(older)  # the chat ran cold meanwhile: keep the newer
                self._idle[chat_id] = brain
                while len(self._idle) > self._max_warm:
                    to_close.append(self._idle.popitem(last=False)[1])
        for idle in to_close:
            idle.close()

    def _expired(self, brain: BrainProcess) -> None:
        with self._lock:
            chat_id = self._chat_of[id(brain)]
            if self._idle.get(chat_id) is not brain:
                return  # just given a turn: its NextTurn is already on the pipe
            del self._idle[chat_id]
        brain.close()

    def _gone(self, brain: BrainProcess) -> None:
        with self._lock:
            chat_id = self._chat_of.pop(id(brain), None)
            if chat_id is not None and self._idle.get(chat_id) is brain:
                del self._idle[chat_id]

    # --- the rest of the protocol ------------------------------------------------------

    def status(self) -> RunnerStatus:
        now = time.monotonic()
        with self._lock:
            warm = tuple(
                {"chat": chat_id, "pid": brain.brain_pid, "session_id": brain.session_id,
                 "idle_seconds": round(now - brain.idle_since, 1)
                 if brain.idle_since is not None else None}
                for chat_id, brain in self._idle.items())
            return RunnerStatus(self.kind, "ready", warm=warm,
                                counters={"processes": len(self._chat_of),
                                          "warm_starts": self.warm_starts,
                                          "cold_starts": self.cold_starts,
                                          "max_warm": self._max_warm})

    def close(self) -> None:
        """The pool is stopping: its turns are killed; the warm processes are closed the
        gentle way (EOF), so each CLI saves its session and exits."""
        with self._lock:
            self._closed = True
            idle = list(self._idle.values())
            self._idle.clear()
        for brain in idle:
            brain.close()
        deadline = time.monotonic() + _CLOSE_WAIT
        for brain in idle:
            brain.join(max(0.0, deadline - time.monotonic()))


def _same_session(brain: BrainProcess, spec: TurnSpec) -> bool:
    """The warm process runs exactly what this turn would start, in the session it resumes."""
    was, _ = command.split_session(brain.spec.argv)
    wants, session_id = command.split_session(spec.argv)
    return (was == wants and session_id is not None and session_id == brain.session_id
            and brain.spec.env == spec.env and brain.spec.cwd == spec.cwd)

