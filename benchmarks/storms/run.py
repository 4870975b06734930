"""One storm against one contender: a fresh local Bot API, the users, a deadline, a stop.

The contender counts as started once it has called getUpdates (plus a second to settle);
the storm is over when every message is answered and acknowledged, or answered and
ACK_GRACE has passed for the missing 👀. A contender that exits, or is not done by the
deadline, is marked failed with what was missing, and its figures are what it got to.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.storms.contenders import Contender, Setup
from benchmarks.storms.measure import Figures, Injected, Progress, figures, progress
from benchmarks.storms.processes import ContenderProcess
from benchmarks.storms.storms import Storm, floor

if TYPE_CHECKING:
    from wakeful.testing.bot_api import BotApiCore

FIRST_USER = 1_000_001  # user (and private chat) ids: FIRST_USER, FIRST_USER + 1, ...
SETTLE = 1.0  # after its first getUpdates, before the first message
ACK_GRACE = 3.0  # everything answered: this long more for 👀 still missing
POLL = 0.25


@dataclass(frozen=True)
class Result:
    storm: str
    contender: str
    failure: str | None  # None: finished; else what went wrong and what was missing
    figures: Figures
    startup_s: float | None  # launch until its first getUpdates
    stop_s: float  # SIGTERM until it exited
    killed: bool  # it needed SIGKILL
    leftovers: int  # its processes still alive after it exited (killed by the harness)
    harness_cpu_s: float  # this process (server and users), to see it was not the bottleneck
    returncode: int
    output_tail: list[str]


class Users:
    """Simulated users writing the storm's messages, on a thread of their own."""

    def __init__(self, core: BotApiCore, storm: Storm, ids: tuple[int, ...]) -> None:
        self._core = core
        self._storm = storm
        self._ids = ids
        self._stop = threading.Event()
        self.injected: list[Injected] = []
        self._thread = threading.Thread(target=self._write, name="storm-users", daemon=True)

    def start(self) -> Users:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _write(self) -> None:
        """Runs on the users' thread."""
        started = time.monotonic()
        for offset, chat_index, seq in self._storm.schedule():
            wait = started + offset - time.monotonic()
            if (wait > 0 and self._stop.wait(wait)) or self._stop.is_set():
                return
            chat = self._ids[chat_index]
            at = time.monotonic()
            update = self._core.inject_text(chat, f"storm message {seq + 1} in chat {chat}",
                                            user_id=chat)
            self.injected.append(Injected(chat, update["message"]["message_id"], seq, at))


def _wait(process: ContenderProcess, deadline: float, done: Callable[[], bool]) -> str | None:
    """None once `done()`; else why not: the contender exited, or the deadline passed."""
    while not done():
        code = process.exit_code()
        if code is not None:
            return f"exited with code {code}"
        if time.monotonic() > deadline:
            return "timed out"
        time.sleep(POLL)
    return None


def _missing(storm: Storm, seen: Progress) -> str:
    m = storm.messages
    return (f"{seen.injected}/{m} written, {m - seen.answered} unanswered, "
            f"{m - seen.acked} without 👀")


def run(storm: Storm, contender: Contender, timeout: float, directory: Path) -> Result:
    """`directory` (created here) gets the contender's files, its output and the brain log."""
    from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, RateLimits, random_token

    token = random_token()
    core = BotApiCore(token)
    if storm.limits:
        core.set_limits(RateLimits())
    ids = tuple(FIRST_USER + n for n in range(storm.chats))
    directory.mkdir(parents=True)
    brain_log = directory / "brains.log"
    deadline = time.monotonic() + timeout
    harness_cpu = time.process_time()

    with LocalBotApiServer(core) as server:
        setup = Setup(server.base_url, token, ids, storm.brain_delay, storm.cap, brain_log)
        process = ContenderProcess(contender.prepare(directory, setup), directory / "output.log")
        users = Users(core, storm, ids)
        startup_s = cpu_before_s = None
        calls_before: Counter[str] | None = None  # None: the storm never began
        throttled_before: Counter[str] = Counter()
        try:
            failure = _wait(process, deadline, lambda: core.call_counts().get("getUpdates", 0) > 0)
            if failure is not None:
                failure = f"never polled: {failure}"
            else:
                startup_s = time.monotonic() - process.started
                time.sleep(SETTLE)
                calls_before = Counter(core.call_counts())
                throttled_before = Counter(core.throttled().by_method)
                cpu_before_s = process.cpu_seconds()
                users.start()
                failure = _wait(process, deadline, _finished(core, storm, ids, users))
        finally:
            users.stop()
            calls: Counter[str] = Counter()
            throttled: Counter[str] = Counter()
            if calls_before is not None:
                calls.update(core.call_counts())
                calls.subtract(calls_before)
                throttled.update(core.throttled().by_method)
                throttled.subtract(throttled_before)
            cpu_s = process.cpu_seconds() if process.exit_code() is None else None
            harness_cpu = time.process_time() - harness_cpu
            stopped = process.stop()

    records = {chat: core.sent(chat) for chat in ids}
    if failure is not None:
        failure = f"{failure}; {_missing(storm, progress(users.injected, records))}"
    log = brain_log.read_text() if brain_log.exists() else ""
    result_figures = figures(storm.messages, users.injected, records, +calls, +throttled, log,
                             cpu_s, cpu_before_s, floor(storm).seconds)
    return Result(storm.name, contender.name, failure, result_figures, startup_s,
                  round(stopped.seconds, 2), stopped.killed, stopped.leftovers,
                  round(harness_cpu, 2), stopped.returncode, process.tail())


def _finished(core: BotApiCore, storm: Storm, ids: tuple[int, ...], users: Users
              ) -> Callable[[], bool]:
    answered_at: list[float] = []

    def done() -> bool:
        if len(users.injected) < storm.messages:
            return False
        seen = progress(users.injected, {chat: core.sent(chat) for chat in ids})
        if seen.answered < storm.messages:
            return False
        if not answered_at:
            answered_at.append(time.monotonic())
        return seen.acked == storm.messages or time.monotonic() - answered_at[0] > ACK_GRACE

    return done
