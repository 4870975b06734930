"""Telegram's flood limits: how many messages a bot may send, overall and per chat.

Telegram documents roughly 30 messages a second across all chats, one a second in any one
chat and 20 a minute in a group; going over answers 429 with `retry_after`, the seconds
until the limit frees up. Windows slide on the core's injected clock, so a test can drive
a minute of traffic in milliseconds. Off unless a test calls `BotApiCore.set_limits`.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

DEFAULT_LIMITED_METHODS = frozenset({"sendMessage", "editMessageText", "sendMessageDraft"})


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Limits per sliding window; None switches that one off. Counts only `methods`."""

    per_bot_per_second: int | None = 30
    per_chat_per_second: int | None = 1
    per_group_per_minute: int | None = 20
    methods: frozenset[str] = DEFAULT_LIMITED_METHODS

    def __post_init__(self) -> None:
        for limit in (self.per_bot_per_second, self.per_chat_per_second,
                      self.per_group_per_minute):  # fmt: skip
            if limit is not None and limit < 1:
                raise ValueError("a rate limit must be at least 1 (or None for no limit)")


@dataclass(frozen=True, slots=True)
class Throttled:
    """Calls refused with 429 by the flood limits (not by `fail_next` or outages)."""

    by_method: dict[str, int] = field(default_factory=dict)
    by_chat: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_method.values())


class _Window:
    """At most `limit` events in any `span` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self._limit = limit
        self._span = span
        self._events: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits; 0 if it fits now."""
        while self._events and self._events[0] <= now - self._span:
            self._events.popleft()
        if len(self._events) < self._limit:
            return 0.0
        return self._events[-self._limit] + self._span - now

    def add(self, now: float) -> None:
        self._events.append(now)


class FloodControl:
    """Decides whether a counted call fits the limits, and remembers the ones that did."""

    def __init__(self) -> None:
        self._limits: RateLimits | None = None
        self._windows: dict[tuple[str, int], _Window] = {}
        self._throttled_methods: Counter[str] = Counter()
        self._throttled_chats: Counter[int] = Counter()

    def configure(self, limits: RateLimits | None) -> None:
        # New limits start from empty windows; the throttle counts keep running.
        self._limits = limits
        self._windows.clear()

    def counts(self, method: str) -> bool:
        return self._limits is not None and method in self._limits.methods

    def throttle(self, method: str, chat_id: int, is_group: bool, now: float) -> int | None:
        """None if the call fits; else counts it as throttled and returns the whole seconds
        to wait (at least 1) until it would."""
        wait = max((window.wait(now) for window in self._windows_for(chat_id, is_group)),
                   default=0.0)  # fmt: skip
        if wait <= 0:
            return None
        self._throttled_methods[method] += 1
        self._throttled_chats[chat_id] += 1
        # Telegram only speaks whole seconds; rounding down would invite an early retry.
        return max(1, math.ceil(wait - 1e-9))

    def record(self, chat_id: int, is_group: bool, now: float) -> None:
        for window in self._windows_for(chat_id, is_group):
            window.add(now)

    def throttled(self) -> Throttled:
        return Throttled(dict(self._throttled_methods), dict(self._throttled_chats))

    def _windows_for(self, chat_id: int, is_group: bool) -> list[_Window]:
        limits = self._limits
        if limits is None:
            return []
        wanted: list[tuple[tuple[str, int], int | None, float]] = [
            (("bot", 0), limits.per_bot_per_second, 1.0),
            (("chat", chat_id), limits.per_chat_per_second, 1.0),
        ]
        if is_group:
            wanted.append((("group", chat_id), limits.per_group_per_minute, 60.0))
        windows = []
        for key, limit, span in wanted:
            if limit is not None:
                window = self._windows.get(key)
                if window is None:
                    window = self._windows[key] = _Window(limit, span)
                windows.append(window)
        return windows
