"""What a run looked like from the users' side, measured from what the server recorded."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import BotApiCore, SentRecord


@dataclass(frozen=True)
class Report:
    messages: int
    acked: int
    answered: int
    in_order: bool
    acked_before_answer: int
    ack_latencies: tuple[float, ...]
    problems: tuple[str, ...] = field(default=())
    # Telegram calls the service made (getUpdates and getMe aside), per method.
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.answered == self.messages and self.acked == self.messages
                and self.in_order and not self.problems)

    def ack_median(self) -> float:
        return statistics.median(self.ack_latencies) if self.ack_latencies else float("nan")

    def ack_p99(self) -> float:
        if not self.ack_latencies:
            return float("nan")
        ordered = sorted(self.ack_latencies)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]

    def calls_per_message(self) -> float:
        return sum(self.calls.values()) / self.messages if self.messages else 0.0

    def ack_max(self) -> float:
        return max(self.ack_latencies) if self.ack_latencies else float("nan")


def _is_answer(record: SentRecord, message: UserMessage, expect_echo: bool) -> bool:
    if record.kind != "message" or record.reply_to_message_id != message.message_id:
        return False
    return not expect_echo or record.text == f"echo: {message.text}"


def measure(core: BotApiCore, sent: list[UserMessage], expect_echo: bool = True) -> Report:
    by_chat: dict[int, list[UserMessage]] = defaultdict(list)
    for message in sent:
        by_chat[message.chat_id].append(message)
    acked = answered = before = 0
    latencies: list[float] = []
    problems: list[str] = []
    in_order = True
    for chat_id, messages in by_chat.items():
        records = core.sent(chat_id)
        reply_order: list[int] = []
        for record in records:
            if record.kind == "message" and record.reply_to_message_id is not None:
                reply_order.append(record.reply_to_message_id)
        for message in messages:
            ack = next((r for r in records if r.kind == "reaction"
                        and r.message_id == message.message_id and r.reaction
                        and "👀" in r.reaction), None)
            answer = next((r for r in records if _is_answer(r, message, expect_echo)), None)
            if ack is not None:
                acked += 1
                latencies.append(ack.at_monotonic - message.sent_at)
            if answer is not None:
                answered += 1
                if ack is not None and ack.at_monotonic <= answer.at_monotonic:
                    before += 1
            elif any(r.kind == "message" and r.reply_to_message_id == message.message_id
                     for r in records):
                problems.append(f"chat {chat_id}: wrong answer to {message.text!r}")
        expected = [m.message_id for m in messages]
        if [mid for mid in reply_order if mid in expected] != expected:
            in_order = False
    calls = {method: count for method, count in core.call_counts().items()
             if method not in _NOT_PER_MESSAGE}
    return Report(len(sent), acked, answered, in_order, before, tuple(latencies),
                  tuple(problems), calls)


_NOT_PER_MESSAGE = frozenset({"getUpdates", "getMe", "getWebhookInfo", "deleteWebhook"})


def peak_concurrency(log_path: Path) -> int:
    """Most brains alive at once, from the stand-in brain's start/end log."""
    if not log_path.exists():
        return 0
    events: list[tuple[float, int]] = []
    for line in log_path.read_text().splitlines():
        kind, at, _pid = line.split()
        # Ends sort before starts at the same instant: touching intervals don't overlap.
        events.append((float(at), 1 if kind == "start" else -1))
    events.sort(key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak
