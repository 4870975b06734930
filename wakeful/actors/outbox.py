"""A chat's outbox: one Telegram send in flight at a time, so replies keep their order.

Not an actor: a plain object owned by one ChatActor and used only on that actor's
thread. It decides what to send next and what a failure means; the actor does the
I/O (through the gateway) and records progress in the journal through the callbacks.
An answer is already stored when it gets here, so nothing is ever given up while the
chat exists: sends are retried with backoff until Telegram takes them, and only a
chat that is gone for good (blocked, kicked, deleted) ends delivery.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from wakeful.actors.replies import REFUSED, Part
from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.retry import backoff

log = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """One Telegram message to send."""

    seq: int
    text: str
    reply_to: int | None
    update_id: int | None  # the stored answer this is part of; None for a notice
    index: int  # which part of that answer
    last: bool  # delivering it completes the answer
    attempts: int = 0


class Outbox:
    def __init__(
        self,
        chat_id: int,
        send: Callable[[Outgoing], None],
        sent: Callable[[Outgoing, int | None], None],
        retry_later: Callable[[float, int], None],
        gone: Callable[[str], None],
    ) -> None:
        """`send` starts a delivery; `sent(outgoing, message_id)` records a part Telegram
        took; `retry_later(delay, seq)` schedules `resend(seq)`; `gone(reason)` reports a
        chat Telegram will never take messages for again."""
        self._chat_id = chat_id
        self._send = send
        self._sent = sent
        self._retry_later = retry_later
        self._gone = gone
        self._queue: deque[Outgoing] = deque()
        self._answers: set[int] = set()  # update_ids with parts queued here
        self._sending = False
        self._seq = itertools.count(1)
        self._wait = backoff(initial=0.5, maximum=60.0)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return not self._queue and not self._sending

    def holds(self, update_id: int) -> bool:
        return update_id in self._answers

    def deliver(self, update_id: int, reply_to: int, parts: list[Part], start: int = 0) -> bool:
        """Queue a stored answer's parts from `start` on; False if it is already queued."""
        if update_id in self._answers:
            return False
        remaining = list(enumerate(parts))[start:]
        if not remaining:
            # Nothing (left) to send: delivering it is a no-op that still completes it.
            self._sent(Outgoing(0, "", None, update_id, max(len(parts) - 1, 0), True), None)
            return True
        self._answers.add(update_id)
        for index, part in remaining:
            self._queue.append(Outgoing(next(self._seq), part.text,
                                        reply_to if part.reply else None, update_id, index,
                                        last=index == len(parts) - 1))
        self._kick()
        return True

    def notice(self, text: str) -> None:
        """A message that answers nothing, in order with the replies around it."""
        self._queue.append(Outgoing(next(self._seq), text, None, None, 0, last=True))
        self._kick()

    def delivered(self, seq: int, message_id: int | None) -> None:
        if not self._queue or self._queue[0].seq != seq:
            return
        head = self._queue.popleft()
        if head.last and head.update_id is not None:
            self._answers.discard(head.update_id)
        self._sent(head, message_id)
        self._send_head()

    def resend(self, seq: int) -> None:
        if self._queue and self._queue[0].seq == seq:
            self._send_head()

    def failed(self, seq: int, failure: TelegramFailure) -> None:
        if not self._queue or self._queue[0].seq != seq:
            return
        head = self._queue[0]
        if failure.kind is FailureKind.CHAT_GONE:
            log.warning("chat %s is gone (%s); dropping %d queued messages", self._chat_id,
                        failure.description, len(self._queue))
            self._queue.clear()
            self._answers.clear()
            self._sending = False
            self._gone(failure.description)
            return
        if failure.kind is FailureKind.BAD_REQUEST:
            if head.reply_to is not None or not head.text.startswith(REFUSED):
                # Tell the user something rather than nothing; a plain notice is always valid.
                log.error("chat %s: Telegram refused a reply: %s", self._chat_id,
                          failure.description)
                head.text = REFUSED + failure.description[:200]
                head.reply_to = None
                head.attempts = 0
                self._send_head()
                return
            log.error("chat %s: Telegram refused even the notice; skipping it: %s",
                      self._chat_id, failure.description)
            self.delivered(seq, None)
            return
        # Everything else is worth waiting out: the answer exists and the chat does too.
        delay = failure.retry_after or self._wait(head.attempts)
        if head.attempts in (3, 10) or head.attempts % 50 == 0:
            log.warning("chat %s: a reply failed %d times (%s); still trying every %.0fs",
                        self._chat_id, head.attempts, failure.description, delay)
        self._retry_later(delay, head.seq)

    def _kick(self) -> None:
        if not self._sending:
            self._send_head()

    def _send_head(self) -> None:
        if not self._queue:
            self._sending = False
            return
        self._sending = True
        head = self._queue[0]
        head.attempts += 1
        self._send(head)
