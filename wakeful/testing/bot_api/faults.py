"""What a test arranged to go wrong: refused calls, outages, blocked chats, lost answers.

The core consults a `FaultPlan` on every call, under its lock; the plan only decides and
counts, so each kind of trouble is one small table here rather than a branch in a handler.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

from wakeful.testing.bot_api.errors import ApiError

# "disconnect": the connection closes with no answer; "hang": no answer until the client
# gives up waiting (its read timeout) or the server stops.
LossMode = Literal["disconnect", "hang"]
LOSS_MODES: frozenset[str] = frozenset({"disconnect", "hang"})


def default_description(code: int, retry_after: int | None) -> str:
    if code == HTTPStatus.TOO_MANY_REQUESTS:
        return f"Too Many Requests: retry after {retry_after or 0}"
    if code == HTTPStatus.FORBIDDEN:
        return "Forbidden: bot was blocked by the user"
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True, slots=True)
class Failure:
    code: int
    description: str
    retry_after: int | None = None

    def error(self) -> ApiError:
        return ApiError(self.code, self.description, self.retry_after)


@dataclass(frozen=True, slots=True)
class _Outage:
    code: int
    description: str | None
    until: float

    def error(self, now: float) -> ApiError:
        if self.code != HTTPStatus.TOO_MANY_REQUESTS:
            return ApiError(self.code, self.description or default_description(self.code, None))
        # A flood wait that lasts as long as the outage tells clients when it really ends.
        retry_after = max(1, math.ceil(self.until - now))
        description = self.description or default_description(self.code, retry_after)
        return ApiError(self.code, description, retry_after)


class FaultPlan:
    """Failures queued per method, timed outages, blocked chats and responses to lose."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[Failure]] = {}
        self._outages: dict[str, _Outage] = {}
        self._losses: dict[str, deque[LossMode]] = {}
        self._blocked: dict[int, str] = {}
        self.outage_hits: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()

    def queue(self, method: str, failure: Failure, times: int) -> None:
        self._queued.setdefault(method, deque()).extend(failure for _ in range(times))

    def start_outage(self, method: str, code: int, description: str | None, until: float) -> None:
        # A new outage of the same method replaces the old one, so 0 seconds ends it.
        self._outages[method] = _Outage(code, description, until)

    def refusal(self, method: str, now: float) -> ApiError | None:
        """The error this call of `method` must fail with, if any: outage first, then queue."""
        outage = self._outages.get(method)
        if outage is not None:
            if now < outage.until:
                self.outage_hits[method] += 1
                return outage.error(now)
            del self._outages[method]
        queue = self._queued.get(method)
        return queue.popleft().error() if queue else None

    def block(self, chat_id: int, description: str) -> None:
        self._blocked[chat_id] = description

    def unblock(self, chat_id: int) -> None:
        self._blocked.pop(chat_id, None)

    def blocked(self, chat_id: int) -> ApiError | None:
        description = self._blocked.get(chat_id)
        return None if description is None else ApiError(HTTPStatus.FORBIDDEN, description)

    def lose(self, method: str, mode: LossMode, times: int) -> None:
        self._losses.setdefault(method, deque()).extend(mode for _ in range(times))

    def take_loss(self, method: str) -> LossMode | None:
        queue = self._losses.get(method)
        if not queue:
            return None
        self.lost[method] += 1
        return queue.popleft()
