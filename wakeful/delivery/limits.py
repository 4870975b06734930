"""Telegram's flood limits, as sliding windows the scheduler asks before each call.

Telegram allows about 30 messages a second per bot, one a second per chat and 20 a
minute per group (edits and drafts count like messages), and answers 429 with a
`retry_after` beyond that. Asking *before* a call (instead of waiting inside it, the
way PTB's AIORateLimiter does) lets the scheduler pick another call that may go now:
a 👀 is never stuck behind a message that has to wait. Pure, clock passed in.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitSettings:
    """[delivery] limits; defaults are Telegram's documented ones."""

    per_bot_per_second: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20


class Window:
    """At most `limit` events in any `period` seconds.

    A call counts from when it leaves (`record`) and stays *out* until `settle`; then it
    counts from its answer. Telegram stamps a call when it arrives, any time before the
    answer (or before a lost answer is given up on), so a call still out holds its place
    however long ago it left: it never slides out of the window by its send time.
    """

    __slots__ = ("_events", "_out", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._events: deque[float] = deque()  # settled calls, oldest first
        self._out: Counter[float] = Counter()  # send times of calls not answered yet

    def free_at(self, now: float) -> float:
        """When the next event fits: `now` if it fits now, inf if only an answer can
        make room."""
        self._expire(now)
        over = len(self._events) + self._out.total() - self.limit + 1
        if over <= 0:
            return now
        if over > len(self._events):
            return math.inf
        return self._events[over - 1] + self.period

    def record(self, now: float) -> None:
        self._expire(now)
        self._out[now] += 1

    def settle(self, sent: float, now: float | None) -> None:
        """The call recorded at `sent` is answered at `now`, or known to have failed
        then (a lost answer included): count it from `now` (None: from `sent`).

        Telegram stamped it somewhere between the two; counted from the later, the next
        call can never look farther from it than it was.
        """
        left = self._out.get(sent, 0) - 1
        if left < 0:
            return  # not out (a window made after it left, or settled already)
        if left:
            self._out[sent] = left
        else:
            del self._out[sent]
        bisect.insort(self._events, sent if now is None else now)

    def idle(self, now: float) -> bool:
        self._expire(now)
        return not self._events and not self._out

    def _expire(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.period:
            self._events.popleft()


# Every this many counted calls, windows with nothing left in them are dropped: a
# long-lived bot meets ever more chats, and each one's window would stay forever.
SWEEP_EVERY = 1000


def is_group(chat_id: int) -> bool:
    # Telegram's private chats have positive ids (the user's); groups are negative.
    return chat_id < 0


class Limits:
    """The windows and the 429 pauses, per bot and per chat."""

    def __init__(self, settings: LimitSettings | None = None) -> None:
        self.settings = settings or LimitSettings()
        self._bot = Window(self.settings.per_bot_per_second, 1.0)
        self._chats: dict[int, Window] = {}
        self._groups: dict[int, Window] = {}
        self._bot_paused_until = 0.0
        self._chat_paused_until: dict[int, float] = {}
        # Chats with a counted call out: the next waits for its answer, since Telegram
        # may see a slow call late, right next to the one sent after it.
        self._out: set[int] = set()
        self._until_sweep = SWEEP_EVERY
        self.pauses = 0

    def free_at(self, chat_id: int, counts: bool, now: float) -> float:
        """When a call for `chat_id` may go (`counts`: it is a message, by Telegram's rules)."""
        at = max(now, self._bot_paused_until, self._chat_paused_until.get(chat_id, 0.0))
        if not counts:
            return at
        if chat_id in self._out:
            return math.inf  # until that call's answer comes back
        at = max(at, self._bot.free_at(now))
        chat = self._chats.get(chat_id)
        if chat is not None:
            at = max(at, chat.free_at(now))
        group = self._groups.get(chat_id)
        if group is not None:
            at = max(at, group.free_at(now))
        return at

    def record(self, chat_id: int, counts: bool, now: float) -> None:
        if not counts:
            return
        self._out.add(chat_id)
        self._bot.record(now)
        self._window(self._chats, chat_id, self.settings.per_chat_per_second, 1.0).record(now)
        if is_group(chat_id):
            self._window(self._groups, chat_id, self.settings.per_group_per_minute,
                         60.0).record(now)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._until_sweep = SWEEP_EVERY
            self.forget_idle(now)

    def settle(self, chat_id: int, counts: bool, sent: float, now: float | None) -> None:
        """A call recorded at `sent` was answered, or failed, at `now` (see
        `Window.settle`; None: it is over, when is not known: counted from `sent`)."""
        if not counts:
            return
        self._out.discard(chat_id)
        self._bot.settle(sent, now)
        for table in (self._chats, self._groups):
            window = table.get(chat_id)
            if window is not None:
                window.settle(sent, now)

    def pause(self, chat_id: int | None, until: float) -> None:
        """Telegram said "retry after": nothing for this scope (None: the whole bot) until then."""
        self.pauses += 1
        if chat_id is None:
            self._bot_paused_until = max(self._bot_paused_until, until)
        else:
            self._chat_paused_until[chat_id] = max(self._chat_paused_until.get(chat_id, 0.0),
                                                   until)

    def paused_until(self) -> float:
        return self._bot_paused_until

    def tracked(self) -> int:
        """Chats and groups with a window kept (for state dumps: it must not only grow)."""
        return len(self._chats) + len(self._groups) + len(self._chat_paused_until)

    def forget_idle(self, now: float) -> None:
        """Drop the windows with nothing left in them (an empty window and a missing one
        mean the same), and pauses that are over."""
        for table in (self._chats, self._groups):
            # A window with a call out is not idle: `settle` must still find that call
            # there, to count it from its answer (however late that comes).
            for chat_id in [c for c, w in table.items() if w.idle(now)]:
                del table[chat_id]
        for chat_id in [c for c, t in self._chat_paused_until.items() if t <= now]:
            del self._chat_paused_until[chat_id]

    @staticmethod
    def _window(table: dict[int, Window], chat_id: int, limit: int, period: float) -> Window:
        window = table.get(chat_id)
        if window is None:
            window = table[chat_id] = Window(limit, period)
        return window
