"""What must hold after any storm, checked from what Telegram (the local server) saw.

Each check returns the violations it found, each naming the chat and the message, so a
failing storm says exactly who was let down and how.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from wakeful.actors import replies, status
from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import BotApiCore, SentRecord

_WAITING = status.queued(0).split(":")[0]  # "⏳ Waiting for a free brain"


@dataclass(frozen=True)
class Delivery:
    acked: bool
    answers: tuple[SentRecord, ...]


def deliveries(core: BotApiCore, sent: list[UserMessage]) -> dict[UserMessage, Delivery]:
    out: dict[UserMessage, Delivery] = {}
    for message in sent:
        records = core.sent(message.chat_id)
        acked = any(r.kind == "reaction" and r.message_id == message.message_id
                    and r.reaction and "👀" in r.reaction for r in records)
        answers = tuple(r for r in records if r.kind == "message"
                        and r.reply_to_message_id == message.message_id)
        out[message] = Delivery(acked, answers)
    return out


def every_message_acked_and_answered_once(
    core: BotApiCore, sent: list[UserMessage], may_repeat: set[tuple[int, int]] = frozenset(),
) -> list[str]:
    """👀 and exactly one answer each; `may_repeat` (chat_id, message_id) may get two."""
    problems = []
    for message, seen in deliveries(core, sent).items():
        where = f"chat {message.chat_id}, message {message.message_id} ({message.text!r})"
        if not seen.acked:
            problems.append(f"{where}: no 👀")
        if not seen.answers:
            problems.append(f"{where}: never answered")
        elif len(seen.answers) > 1 and (message.chat_id, message.message_id) not in may_repeat:
            problems.append(f"{where}: answered {len(seen.answers)} times")
        for answer in seen.answers:
            if answer.text != f"echo: {message.text}":
                problems.append(f"{where}: answered {answer.text!r}")
    return problems


def acks_before_answers(core: BotApiCore, sent: list[UserMessage]) -> list[str]:
    """Each message's 👀 goes out before its answer."""
    problems = []
    for message in sent:
        records = core.sent(message.chat_id)
        acks = [r.at_monotonic for r in records if r.kind == "reaction"
                and r.message_id == message.message_id and r.reaction and "👀" in r.reaction]
        answers = [r.at_monotonic for r in records if r.kind == "message"
                   and r.reply_to_message_id == message.message_id]
        if acks and answers and min(acks) > min(answers):
            problems.append(f"chat {message.chat_id}, message {message.message_id}: 👀 "
                            f"{min(acks) - min(answers):.3f} s after its answer")
    return problems


def answers_in_message_order(core: BotApiCore, sent: list[UserMessage]) -> list[str]:
    """Per chat, first answers come in the order the user wrote."""
    by_chat: dict[int, list[int]] = defaultdict(list)
    for message in sent:
        by_chat[message.chat_id].append(message.message_id)
    problems = []
    for chat_id, expected in by_chat.items():
        first: list[int] = []
        for record in core.sent(chat_id):
            target = record.reply_to_message_id
            if record.kind == "message" and target in expected and target not in first:
                first.append(target)
        if first != [m for m in expected if m in first]:
            problems.append(f"chat {chat_id}: answers out of order: {first}")
    return problems


def no_failure_notes(core: BotApiCore, chats: list[int]) -> list[str]:
    return [f"chat {chat}: {r.text!r}" for chat in chats for r in core.sent(chat)
            if r.kind == "message" and r.text and r.text.startswith(replies.SORRY)]


def no_stale_status(core: BotApiCore, chats: list[int], stale: str) -> list[str]:
    """No status message is left saying `stale` (e.g. "Working on it…")."""
    problems = []
    for chat in chats:
        ids = {r.message_id for r in core.sent(chat) if r.kind == "message"
               and r.reply_to_message_id is None}
        for message_id in ids:
            current = core.message(chat, message_id)
            if current and current.get("text") == stale:
                problems.append(f"chat {chat}: status message {message_id} still says {stale!r}")
    return problems


def status_lines_closed(core: BotApiCore, chats: list[int], *finals: str) -> list[str]:
    """Every status message (a message that answers nothing) ends on one of `finals`, or
    says when its turn started (words that stay true)."""
    problems = []
    for chat in chats:
        ids = {r.message_id for r in core.sent(chat) if r.kind == "message"
               and r.reply_to_message_id is None}
        for message_id in sorted(i for i in ids if i is not None):
            current = core.message(chat, message_id)
            text = current.get("text") if current else None
            if text not in finals and not (text or "").startswith(status.STARTED):
                problems.append(f"chat {chat}: status message {message_id} says {text!r}")
    return problems


def acks_before_waiting_status(core: BotApiCore, chats: list[int]) -> list[str]:
    """For a burst written all at once: no chat is told it waits before every message has
    its 👀. (A status line is the lower class; it must never take a 👀's place.)"""
    waiting = [r.at_monotonic for chat in chats for r in core.sent(chat)
               if r.kind == "message" and r.text and r.text.startswith(_WAITING)]
    if not waiting:
        return []
    first_status = min(waiting)
    return [f"chat {chat}: 👀 on message {r.message_id} came "
            f"{r.at_monotonic - first_status:.3f} s after the first status line"
            for chat in chats for r in core.sent(chat)
            if r.kind == "reaction" and r.reaction and "👀" in r.reaction
            and r.at_monotonic > first_status]


def brain_intervals(log: Path, prompts: Path, chat_of: Callable[[str], int]
                    ) -> dict[int, list[tuple[float, float]]]:
    """When each chat's brains ran, from the stand-in's start/end log and prompt log."""
    chat_by_pid = {}
    for line in prompts.read_text().splitlines():
        entry = json.loads(line)
        chat_by_pid[entry["pid"]] = chat_of(entry["prompt"])
    starts: dict[int, float] = {}
    out: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        kind, at, pid = line.split()
        if kind == "start":
            starts[int(pid)] = float(at)
        elif int(pid) in starts:
            out[chat_by_pid[int(pid)]].append((starts.pop(int(pid)), float(at)))
    return out


def typing_only_while_running(core: BotApiCore, chats: list[int],
                              running: dict[int, list[tuple[float, float]]],
                              before: float = 2.0, after: float = 5.0) -> list[str]:
    """Each typing action falls within one of its chat's brain runs. `before`: the pool
    reports a turn started as it launches the process, before the brain logs its start
    once its interpreter is up (1.008 s later seen on a loaded 2-core machine); a chat
    waiting in line waits far longer than that. `after`: a typing call asked for while
    running may wait its turn for up to the 4 s after which it is dropped as stale."""
    problems = []
    for chat in chats:
        for record in core.sent(chat):
            if record.kind != "chat_action":
                continue
            at = record.at_monotonic
            if not any(start - before <= at <= end + after for start, end in running[chat]):
                problems.append(f"chat {chat}: typing at {at:.3f} while no brain ran for it "
                                f"(runs: {running[chat]})")
    return problems


def peak_brains(log: Path) -> int:
    """Most stand-in brains alive at once, from their own start/end log. A brain killed
    for hanging logs no end and is left out: the pool's own peak covers it."""
    events: list[tuple[float, int]] = []
    open_at: dict[str, float] = {}
    for line in log.read_text().splitlines():
        kind, at, pid = line.split()
        if kind == "start":
            open_at[pid] = float(at)
        elif pid in open_at:
            events += [(open_at.pop(pid), 1), (float(at), -1)]
    running = peak = 0
    for _, delta in sorted(events):  # an end sorts before a start at the same instant
        running += delta
        peak = max(peak, running)
    return peak


def in_flight_at_kill(journal: Path) -> set[tuple[int, int]]:
    """(chat_id, message_id) of turns running or answers being sent when the service died:
    the only messages a kill -9 may answer twice."""
    if not journal.exists():
        return set()  # killed before it opened its journal: nothing was in flight
    db = sqlite3.connect(journal)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone():
            return set()
        rows = db.execute(
            "SELECT chat_id, message_id FROM messages WHERE state = 'in_turn' UNION "
            "SELECT m.chat_id, m.message_id FROM answers a JOIN messages m USING (update_id) "
            "WHERE a.state = 'pending'").fetchall()
    finally:
        db.close()
    return {(chat, message) for chat, message in rows}


class PollerBeats:
    """The poller's heartbeat age as the watchdog sees it, sampled while a storm runs
    (for a tree in this process): `ages` is every sample, taken until `stop()`."""

    def __init__(self, service: Any, every: float = 0.25) -> None:
        self.ages: list[float] = []
        self._service = service
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="poller-beats", daemon=True)

    def start(self) -> PollerBeats:
        self._thread.start()
        return self

    def stop(self) -> list[float]:
        self._done.set()
        self._thread.join(timeout=10)
        return self.ages

    def _sample(self) -> None:
        """Executed on the sampler's own thread."""
        while not self._done.wait(self._every):
            try:
                watched = self._service.ask("watchdog")["watched"].get("poller")
            except (KeyError, pykka.ActorDeadError, pykka.Timeout):
                continue  # the watchdog itself between two lives: nothing to read
            if watched is not None:
                self.ages.append(watched["last_beat_age"])

    def older_than(self, threshold: float) -> list[str]:
        """Empty if the poller always beat within `threshold` (and was sampled at all)."""
        if not self.ages:
            return ["the poller's heartbeat was never sampled"]
        return [f"poller heartbeat {age:.2f} s old (threshold {threshold} s)"
                for age in self.ages if age >= threshold]
