"""The workloads, and the earliest time the last answer could possibly arrive."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

# Telegram's defaults as `RateLimits()` has them (wakeful.testing.bot_api.limits).
BOT_PER_SECOND = 30
CHAT_PER_SECOND = 1


@dataclass(frozen=True)
class Storm:
    key: str  # "A", "C": what --storm takes
    what: str
    chats: int
    per_chat: int
    spread: float | None  # all messages evenly over this many seconds; None: at once
    brain_delay: float
    cap: int
    limits: bool

    @property
    def name(self) -> str:
        return f"storm-{self.key}"

    @property
    def messages(self) -> int:
        return self.chats * self.per_chat

    def schedule(self) -> list[tuple[float, int, int]]:
        """(seconds after the first message, chat index, n-th message of that chat), round
        robin over the chats: every chat's first message, then every chat's second..."""
        step = 0.0 if self.spread is None else self.spread / self.messages
        return [(k * step, k % self.chats, k // self.chats) for k in range(self.messages)]

    def describe(self) -> str:
        pace = ("as fast as they can be injected" if self.spread is None
                else f"spread evenly over {self.spread:g} s")
        limits = "Telegram limits ON (30/s bot, 1/s chat)" if self.limits else "limits OFF"
        return (f"{self.name}: {self.chats} chats x {self.per_chat} messages, {pace}; "
                f"stand-in brain {self.brain_delay:g} s, cap {self.cap}, {limits}")


STORMS = {
    "A": Storm("A", "a busy spell", chats=100, per_chat=3, spread=20.0, brain_delay=2.0,
               cap=8, limits=True),
    "C": Storm("C", "everyone at once", chats=200, per_chat=3, spread=None, brain_delay=2.0,
               cap=8, limits=True),
}


def adjusted(storm: Storm, **changes: Any) -> Storm:
    """The storm with the options given on the command line (None: keep its own)."""
    return replace(storm, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class Floor:
    seconds: float
    formula: str


def floor(storm: Storm) -> Floor:
    """Earliest possible last answer, from the first message, if the contender did nothing
    but run one brain turn per message and send one answer per message.

    Brains: M turns of d seconds, cap at a time: ceil(M/cap)*d. Arrival: the last message
    is written at t_last and needs a turn: t_last + d. Limits: no answer before d; then at
    most 30 in any second bot-wide and 1 a second in a chat, so the last of M answers goes
    out floor((M-1)/30) s, and a chat's last (per_chat-1) s, after the first.
    """
    m, d, cap, per_chat = storm.messages, storm.brain_delay, storm.cap, storm.per_chat
    t_last = storm.schedule()[-1][0]
    brains = math.ceil(m / cap) * d
    arrival = t_last + d
    if storm.limits:
        limits = d + max((m - 1) // BOT_PER_SECOND, (per_chat - 1) // CHAT_PER_SECOND)
        limit_text = (f"d + max(⌊(M−1)/{BOT_PER_SECOND}⌋, per_chat−1) = "
                      f"{d:g} + max({(m - 1) // BOT_PER_SECOND}, {per_chat - 1}) = {limits:g}")
    else:
        limits = d
        limit_text = f"d (no limits) = {d:g}"
    seconds = max(brains, arrival, limits)
    formula = (f"floor = max(brains ⌈M/cap⌉·d = ⌈{m}/{cap}⌉·{d:g} = {brains:g}; "
               f"arrival t_last + d = {t_last:.2f} + {d:g} = {arrival:.2f}; "
               f"limits {limit_text}) = {seconds:.2f} s")
    return Floor(seconds, formula)
