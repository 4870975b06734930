"""The updates waiting for the bot, and getUpdates' long poll over them.

Telegram keeps an update until a later getUpdates confirms it with a higher `offset`, so a
bot that crashes mid-batch sees the batch again; a newer poll ends an older one with 409.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from wakeful.testing.bot_api.errors import ApiError, JSONDict, bad_request
from wakeful.testing.bot_api.params import Params

MAX_UPDATES_PER_CALL = 100
CONFLICT_DESCRIPTION = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
# Telegram only delivers these when a bot opts in through allowed_updates.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def _update_type(update: Mapping[str, Any]) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class UpdateQueue:
    """Every method must run with `cond` held; a long poll sleeps on it.

    Sharing the core's condition means any change to the core's state wakes pending polls.
    """

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._updates: deque[JSONDict] = deque()
        self._next_update_id = 1
        self._allowed: frozenset[str] = frozenset()
        # Bumped by each getUpdates so an older pending poll knows it lost (409).
        self._generation = 0
        # Bumped by interrupt so pending polls return [] at once.
        self._interrupts = 0

    def push(self, body: Mapping[str, Any]) -> JSONDict:
        """Queue an update with the next id; returns a copy of it."""
        return self.append({"update_id": self._next_update_id, **copy.deepcopy(dict(body))})

    def append(self, update: JSONDict) -> JSONDict:
        """Queue an update that already has an integer id; returns a copy of it."""
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        self._cond.notify_all()
        return copy.deepcopy(update)

    def pending_ids(self) -> list[int]:
        return [update["update_id"] for update in self._updates]

    def discard_pending(self) -> None:
        """Forget every waiting update (drop_pending_updates); ids keep counting up."""
        self._updates.clear()

    def interrupt(self) -> None:
        self._interrupts += 1
        self._cond.notify_all()

    def poll(self, params: Params) -> list[JSONDict]:
        """The getUpdates handler."""
        offset = params.as_int("offset")
        limit = params.as_int("limit") or MAX_UPDATES_PER_CALL
        limit = max(1, min(limit, MAX_UPDATES_PER_CALL))
        timeout = max(0.0, params.as_float("timeout") or 0.0)
        allowed = params.as_json("allowed_updates")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)
        ):
            raise bad_request("can't parse allowed_updates JSON array")

        self._generation += 1
        generation = self._generation
        interrupts = self._interrupts
        self._cond.notify_all()
        self._confirm(offset)
        if allowed is not None:
            # Like Telegram, the filter sticks for later calls that omit it.
            self._allowed = frozenset(allowed)

        # Long-poll deadlines use real time even when timestamps come from a fake clock:
        # a frozen clock must not turn a poll into a hang.
        deadline = time.monotonic() + timeout
        while True:
            batch = self._select(limit)
            if batch:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._interrupts != interrupts:
                return []
            self._cond.wait(remaining)
            if self._generation != generation:
                raise ApiError(HTTPStatus.CONFLICT, CONFLICT_DESCRIPTION)

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        else:
            # Negative offsets keep only the last -offset updates and forget the rest.
            while len(self._updates) > -offset:
                self._updates.popleft()

    def _select(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        for update in self._updates:
            kind = _update_type(update)
            if self._allowed:
                wanted = kind is None or kind in self._allowed
            else:
                wanted = kind not in _OPT_IN_UPDATE_TYPES
            if wanted:
                batch.append(copy.deepcopy(update))
                if len(batch) >= limit:
                    break
        return batch
