"""Pure: the figures of one storm against one contender, from what the server recorded.

A user's message is *acknowledged* by the first 👀 reaction on it, and *answered* by the
first bot message that replies to it (`reply_to_message_id`); times are the server's
(`SentRecord.at_monotonic`), on the same clock as the inject times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

ACK = "👀"


class Record(Protocol):
    """The parts of `wakeful.testing.bot_api.SentRecord` read here."""

    @property
    def kind(self) -> str: ...
    @property
    def message_id(self) -> int | None: ...
    @property
    def reaction(self) -> tuple[str, ...] | None: ...
    @property
    def reply_to_message_id(self) -> int | None: ...
    @property
    def at_monotonic(self) -> float: ...


@dataclass(frozen=True)
class Injected:
    chat_id: int
    message_id: int
    seq: int  # n-th message written in its chat, from 0
    at: float  # time.monotonic() just before the user "sent" it


@dataclass(frozen=True)
class Seen:
    """When each user message got its first 👀 and its first answer (None: not yet)."""

    acked: dict[tuple[int, int], float]
    answered: dict[tuple[int, int], float]
    answers: int  # every answer, a second one to the same message included


def seen(records: Mapping[int, Sequence[Record]]) -> Seen:
    acked: dict[tuple[int, int], float] = {}
    answered: dict[tuple[int, int], float] = {}
    answers = 0
    for chat_id, chat_records in records.items():
        for r in chat_records:
            if r.kind == "reaction" and r.message_id is not None and ACK in (r.reaction or ()):
                acked.setdefault((chat_id, r.message_id), r.at_monotonic)
            elif r.kind == "message" and r.reply_to_message_id is not None:
                answers += 1
                answered.setdefault((chat_id, r.reply_to_message_id), r.at_monotonic)
    return Seen(acked, answered, answers)


@dataclass(frozen=True)
class Progress:
    injected: int
    acked: int
    answered: int


def progress(injected: Sequence[Injected], records: Mapping[int, Sequence[Record]]) -> Progress:
    s = seen(records)
    keys = [(m.chat_id, m.message_id) for m in injected]
    return Progress(len(keys), sum(k in s.acked for k in keys), sum(k in s.answered for k in keys))


@dataclass(frozen=True)
class Figures:
    messages: int  # the storm's
    injected: int
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    ack_max_ms: float | None
    without_ack: int  # of the storm's messages (one never written has no 👀 either)
    last_ack_s: float | None  # from the first injected message
    last_answer_s: float | None  # None unless every message was answered
    unanswered: int
    duplicate_answers: int  # answers beyond the first to the same message
    order_violations: int  # answers that came after the answer to a later message
    chats_out_of_order: int
    ack_after_answer: int
    calls: int
    calls_per_message: float
    calls_by_method: dict[str, int]
    throttled: int  # 429s from the flood limits
    throttled_by_method: dict[str, int]
    brain_runs: int
    peak_brains: int
    cpu_s: float | None  # the contender's main process only, from its start
    cpu_ms_per_message: float | None
    storm_cpu_ms_per_message: float | None  # without what it spent before the first message
    floor_s: float
    last_answer_over_floor: float | None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def order_violations(injected: Iterable[Injected], answered: Mapping[tuple[int, int], float]
                     ) -> tuple[int, int]:
    """(answers that arrived after the answer to a message written later in the same chat,
    chats with at least one). Unanswered messages are counted elsewhere."""
    by_chat: dict[int, list[tuple[float, int]]] = {}
    for m in injected:
        at = answered.get((m.chat_id, m.message_id))
        if at is not None:
            by_chat.setdefault(m.chat_id, []).append((at, m.seq))
    late = chats = 0
    for answers in by_chat.values():
        latest_seq = -1
        chat_late = 0
        for _, seq in sorted(answers):
            if seq < latest_seq:
                chat_late += 1
            latest_seq = max(latest_seq, seq)
        late += chat_late
        chats += chat_late > 0
    return late, chats


def peak_brains(log: str) -> tuple[int, int]:
    """(runs, most at once) from the stand-in's "start|end <monotonic> <pid>" lines."""
    events = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("start", "end"):
            # At the same instant an end frees its slot before a start takes one.
            events.append((float(parts[1]), parts[0] == "start"))
    running = peak = runs = 0
    for _, is_start in sorted(events):
        running += 1 if is_start else -1
        runs += is_start
        peak = max(peak, running)
    return runs, peak


def figures(
    messages: int,
    injected: Sequence[Injected],
    records: Mapping[int, Sequence[Record]],
    calls: Mapping[str, int],
    throttled: Mapping[str, int],
    brain_log: str,
    cpu_s: float | None,
    cpu_before_s: float | None,
    floor_s: float,
) -> Figures:
    s = seen(records)
    first = min((m.at for m in injected), default=0.0)
    keys = {(m.chat_id, m.message_id): m for m in injected}
    latencies = [s.acked[k] - m.at for k, m in keys.items() if k in s.acked]
    acks = [s.acked[k] for k in keys if k in s.acked]
    answers = [s.answered[k] for k in keys if k in s.answered]
    late, chats_late = order_violations(injected, s.answered)
    runs, peak = peak_brains(brain_log)
    total_calls = sum(calls.values())
    # With a message never answered, its answer (the last one) never came.
    last_answer = max(answers) - first if answers and len(answers) == messages else None
    n = max(1, len(injected))

    def ms(q: float) -> float | None:
        return round(percentile(latencies, q) * 1000, 1) if latencies else None

    return Figures(
        messages=messages,
        injected=len(injected),
        ack_p50_ms=ms(0.50),
        ack_p99_ms=ms(0.99),
        ack_max_ms=ms(1.0),
        without_ack=messages - len(latencies),
        last_ack_s=round(max(acks) - first, 2) if acks else None,
        last_answer_s=None if last_answer is None else round(last_answer, 2),
        unanswered=messages - len(answers),
        duplicate_answers=s.answers - len(s.answered),
        order_violations=late,
        chats_out_of_order=chats_late,
        ack_after_answer=sum(1 for k in keys
                             if k in s.acked and k in s.answered and s.acked[k] > s.answered[k]),
        calls=total_calls,
        calls_per_message=round(total_calls / n, 2),
        calls_by_method=dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        throttled=sum(throttled.values()),
        throttled_by_method=dict(sorted(throttled.items(), key=lambda kv: -kv[1])),
        brain_runs=runs,
        peak_brains=peak,
        cpu_s=None if cpu_s is None else round(cpu_s, 2),
        cpu_ms_per_message=None if cpu_s is None else round(cpu_s / n * 1000, 2),
        storm_cpu_ms_per_message=(None if cpu_s is None or cpu_before_s is None
                                  else round((cpu_s - cpu_before_s) / n * 1000, 2)),
        floor_s=round(floor_s, 2),
        last_answer_over_floor=None if last_answer is None else round(last_answer / floor_s, 2),
    )
