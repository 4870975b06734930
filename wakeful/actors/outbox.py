"""A chat's outbox: one Telegram send in flight at a time, so replies keep their order.

Not an actor: a plain object owned by one ChatActor and used only on that actor's
thread. It decides what to send next and what a failure means; the actor does the
I/O (through the gateway) and feeds the outcome back in as messages.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.retry import backoff

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
MAX_DELIVERY_ATTEMPTS = 8
REFUSED = "⚠️ I had an answer but Telegram refused it: "


@dataclass
class Outgoing:
    seq: int
    text: str
    reply_to: int | None
    answers: int | None  # the update_id this completes, once delivered
    attempts: int = 0


class Outbox:
    def __init__(
        self,
        chat_id: int,
        send: Callable[[Outgoing], None],
        answered: Callable[[int], None],
        retry_later: Callable[[float, int], None],
    ) -> None:
        """`send` starts a delivery, `answered(update_id)` records one as done for good,
        `retry_later(delay, seq)` schedules `resend(seq)`."""
        self._chat_id = chat_id
        self._send = send
        self._answered = answered
        self._retry_later = retry_later
        self._queue: deque[Outgoing] = deque()
        self._sending = False
        self._seq = itertools.count(1)
        self._wait = backoff(initial=0.5, maximum=20.0)

    def __len__(self) -> int:
        return len(self._queue)

    def reply(self, text: str, reply_to: int, answers: int) -> None:
        """Queue an answer, split at Telegram's limit; the last part completes `answers`."""
        chunks = [text[i:i + TELEGRAM_LIMIT] for i in range(0, len(text), TELEGRAM_LIMIT)]
        chunks = chunks or ["(empty answer)"]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self._queue.append(Outgoing(next(self._seq), chunk, reply_to,
                                        answers if last else None))
        self._kick()

    def notice(self, text: str) -> None:
        """A message that answers nothing, in order with the replies around it."""
        self._queue.append(Outgoing(next(self._seq), text, None, None))
        self._kick()

    def delivered(self, seq: int) -> None:
        if not self._queue or self._queue[0].seq != seq:
            return
        head = self._queue.popleft()
        if head.answers is not None:
            self._answered(head.answers)
        self._send_head()

    def resend(self, seq: int) -> None:
        if self._queue and self._queue[0].seq == seq:
            self._send_head()

    def failed(self, seq: int, failure: TelegramFailure) -> None:
        if not self._queue or self._queue[0].seq != seq:
            return
        head = self._queue[0]
        if failure.kind is FailureKind.FORBIDDEN:
            log.warning("chat %s blocked the bot; dropping %d replies", self._chat_id,
                        len(self._queue))
            for item in self._queue:
                if item.answers is not None:
                    self._answered(item.answers)
            self._queue.clear()
            self._sending = False
            return
        if failure.retryable and head.attempts < MAX_DELIVERY_ATTEMPTS:
            self._retry_later(failure.retry_after or self._wait(head.attempts), head.seq)
            return
        log.error("chat %s: giving up on a reply after %d attempts: %s", self._chat_id,
                  head.attempts, failure.description)
        if failure.kind is FailureKind.BAD_REQUEST and head.reply_to is not None:
            # Tell the user something rather than nothing; a plain notice is always valid.
            head.text = REFUSED + failure.description[:200]
            head.reply_to = None
            head.attempts = 0
        else:
            self._queue.popleft()
            if head.answers is not None:
                self._answered(head.answers)
        self._send_head()

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
