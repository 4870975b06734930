"""Which Telegram call goes next: priorities, fairness, coalescing and limits. Pure.

- **Lanes** (`calls.Lane`) are strict priorities: a 👀 that may go now always goes
  before any answer, an answer before any status edit, a status edit before typing.
- **Within a lane**, each chat has its own FIFO and chats take turns (round robin),
  so one chat with a long answer cannot starve the others. A chat has at most one call
  in flight per lane, which keeps the parts of an answer in order.
- **Coalescing**: a call with the same key as one still waiting (a newer edit of the
  same message, the chat's typing) takes its place; the old one is superseded.
- **Stale typing** is dropped: "typing…" sent late is a lie.
- **Limits** (`limits.Limits`) and 429 pauses are asked before a call leaves, and a
  bounded number of calls is in flight; the last `urgent_slots` of them are kept for
  👀 and answers, so progress and typing can never fill the pipe.

The outbound actor drives it: submit, take `next()` while it returns a ticket, and
report each ticket back as done or requeued.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wakeful.delivery.calls import Call, Lane, coalescing_key
from wakeful.delivery.limits import Limits

TYPING_STALE = 4.0  # Telegram shows "typing…" for about 5 s after the call


@dataclass(eq=False)
class Ticket:
    """One submitted call on its way; identity, not value, tells tickets apart."""

    call: Call
    submitted_at: float
    requester: str | None = None  # directory name told the outcome; None: nobody
    tag: Any = None  # what the submitter needs back with the outcome
    attempts: int = 0
    not_before: float = 0.0
    sent_at: float = 0.0  # when it last went out
    id: int = field(default_factory=itertools.count(1).__next__)

    @property
    def chat_id(self) -> int:
        return self.call.chat_id

    @property
    def lane(self) -> Lane:
        return self.call.lane


class _LaneQueue:
    def __init__(self) -> None:
        self.chats: dict[int, deque[Ticket]] = {}
        self.ring: deque[int] = deque()  # chats with waiting tickets, in turn order

    def append(self, ticket: Ticket, front: bool = False) -> None:
        queue = self.chats.get(ticket.chat_id)
        if queue is None:
            queue = self.chats[ticket.chat_id] = deque()
            self.ring.append(ticket.chat_id)
        if front:
            queue.appendleft(ticket)
        else:
            queue.append(ticket)

    def remove(self, ticket: Ticket) -> None:
        queue = self.chats.get(ticket.chat_id)
        if queue is not None and ticket in queue:
            queue.remove(ticket)

    def __len__(self) -> int:
        return sum(len(q) for q in self.chats.values())


class Schedule:
    def __init__(self, limits: Limits | None = None, max_in_flight: int = 8,
                 urgent_slots: int = 2, typing_stale: float = TYPING_STALE) -> None:
        self.limits = limits or Limits()
        self.max_in_flight = max_in_flight
        self.urgent_slots = min(urgent_slots, max_in_flight - 1)
        self.typing_stale = typing_stale
        self._lanes = {lane: _LaneQueue() for lane in Lane}
        self._keyed: dict[tuple[object, ...], Ticket] = {}
        self._in_flight: dict[int, Ticket] = {}
        self._busy: set[tuple[Lane, int]] = set()
        self._dropped: list[Ticket] = []  # stale typing, for the caller to account for

    # --- in -----------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Ticket | None:
        """Queue a ticket; returns the waiting ticket it replaced, if any."""
        key = coalescing_key(ticket.call)
        old = self._keyed.get(key) if key is not None else None
        if old is not None:
            queue = self._lanes[old.lane].chats[old.chat_id]
            queue[queue.index(old)] = ticket  # the newest takes the old one's place
        else:
            self._lanes[ticket.lane].append(ticket)
        if key is not None:
            self._keyed[key] = ticket
        return old

    def requeue(self, ticket: Ticket, not_before: float, now: float | None = None) -> bool:
        """A ticket in flight failed and is worth another try, first in its chat's line.

        False when a newer ticket with its key arrived meanwhile: that one carries on.
        `now`: when its answer came (see `done`).
        """
        self._release(ticket, now)
        key = coalescing_key(ticket.call)
        if key is not None and key in self._keyed:
            return False
        ticket.not_before = not_before
        self._lanes[ticket.lane].append(ticket, front=True)
        if key is not None:
            self._keyed[key] = ticket
        return True

    def done(self, ticket: Ticket, now: float | None = None) -> None:
        """The ticket's call is over (whatever its outcome). `now`, when its answer came or
        its failure was known (a lost answer too): the limits then count the call from
        there (Telegram saw it at some point between); until then it holds its place."""
        self._release(ticket, now)

    # --- out ----------------------------------------------------------------------

    def next(self, now: float) -> Ticket | float | None:
        """A ticket to send now (it is then in flight), else when to look again (None:
        only when something is submitted or finishes)."""
        if len(self._in_flight) >= self.max_in_flight:
            return None
        wake: float | None = None
        for lane in Lane:
            if lane >= Lane.PROGRESS and \
                    len(self._in_flight) >= self.max_in_flight - self.urgent_slots:
                break
            found = self._next_in(lane, now)
            if isinstance(found, Ticket):
                return found
            if found is not None:
                wake = found if wake is None else min(wake, found)
        return wake

    def take_dropped(self) -> list[Ticket]:
        dropped, self._dropped = self._dropped, []
        return dropped

    def drop(self, chat_id: int, keep: Callable[[Ticket], bool] = lambda _: False
             ) -> list[Ticket]:
        """Remove a chat's waiting tickets (those `keep` does not keep); returns them."""
        gone: list[Ticket] = []
        for lane in self._lanes.values():
            queue = lane.chats.get(chat_id)
            if not queue:
                continue
            kept = deque(t for t in queue if keep(t))
            gone.extend(t for t in queue if not keep(t))
            lane.chats[chat_id] = kept
        for ticket in gone:
            key = coalescing_key(ticket.call)
            if key is not None and self._keyed.get(key) is ticket:
                del self._keyed[key]
        return gone

    # --- inspection ---------------------------------------------------------------

    def waiting(self) -> dict[str, int]:
        return {lane.name.lower(): len(queue) for lane, queue in self._lanes.items()}

    def in_flight(self) -> int:
        return len(self._in_flight)

    def tickets(self) -> Iterator[Ticket]:
        """Every ticket waiting or in flight."""
        yield from self._in_flight.values()
        for lane in self._lanes.values():
            for queue in lane.chats.values():
                yield from queue

    def empty(self, lanes: tuple[Lane, ...] = tuple(Lane)) -> bool:
        return not any(t.lane in lanes for t in self.tickets())

    # --- internals ----------------------------------------------------------------

    def _next_in(self, lane: Lane, now: float) -> Ticket | float | None:
        queue = self._lanes[lane]
        wake: float | None = None
        for _ in range(len(queue.ring)):
            chat_id = queue.ring[0]
            queue.ring.rotate(-1)  # whatever happens, this chat's turn is over
            tickets = queue.chats.get(chat_id)
            if not tickets:
                queue.ring.pop()  # just rotated to the back
                queue.chats.pop(chat_id, None)
                continue
            if (lane, chat_id) in self._busy:
                continue
            ticket = tickets[0]
            if lane is Lane.TYPING and now - ticket.submitted_at > self.typing_stale:
                tickets.popleft()
                self._forget_key(ticket)
                self._dropped.append(ticket)
                continue
            at = max(ticket.not_before, self.limits.free_at(chat_id, ticket.call.counts, now))
            if at == math.inf:
                continue  # the chat's call in flight frees it when it comes back
            if at > now:
                wake = at if wake is None else min(wake, at)
                continue
            tickets.popleft()
            self._forget_key(ticket)
            self.limits.record(chat_id, ticket.call.counts, now)
            ticket.sent_at = now
            self._in_flight[ticket.id] = ticket
            self._busy.add((lane, chat_id))
            ticket.attempts += 1
            return ticket
        return wake

    def _forget_key(self, ticket: Ticket) -> None:
        key = coalescing_key(ticket.call)
        if key is not None and self._keyed.get(key) is ticket:
            del self._keyed[key]

    def _release(self, ticket: Ticket, now: float | None) -> None:
        if self._in_flight.pop(ticket.id, None) is not None:
            self._busy.discard((ticket.lane, ticket.chat_id))
            self.limits.settle(ticket.chat_id, ticket.call.counts, ticket.sent_at, now)
