"""Poller: long-polls getUpdates and hands each message to the chats supervisor.

The poll itself runs on the gateway loop; this actor only starts it and reacts to
its completion, so its mailbox stays responsive (pings, state dumps) for the whole
long poll. Each message is written to the ledger before the offset moves past it.
"""

from __future__ import annotations

import logging
from typing import Any

from wakeful.bots.errors import FailureKind, classify
from wakeful.bots.gateway import TelegramGateway
from wakeful.bots.updates import MalformedUpdate, parse_update, update_id_of
from wakeful.messages import MessageArrived, PollDue, PollFailed, UpdatesFetched
from wakeful.retry import backoff
from wakeful.state.ledger import Ledger
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

CONFLICT_PAUSE = 5.0


class Poller(SupervisedActor):
    def __init__(
        self, ctx: ChildContext, gateway: TelegramGateway, ledger: Ledger, chats: str = "chats"
    ) -> None:
        super().__init__(ctx)
        self._gateway = gateway
        self._ledger = ledger
        self._chats = chats
        self._poll_id = 0
        self._in_flight = False
        self._failures = 0
        self._wait = backoff(initial=0.5, maximum=30.0)
        self.polls = 0
        self.updates = 0
        self.malformed = 0
        self.last_error: str | None = None

    def started(self) -> None:
        self.actor_ref.tell(PollDue())

    def handle(self, message: Any) -> Any:
        match message:
            case PollDue():
                self._poll()
            case UpdatesFetched(poll_id=poll_id) if poll_id == self._poll_id:
                self._on_updates(message.updates)
            case PollFailed(poll_id=poll_id) if poll_id == self._poll_id:
                self._on_failure(message)
            case UpdatesFetched() | PollFailed():
                pass  # answer to a poll we no longer wait for
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "updates": self.updates,
            "malformed_updates": self.malformed,
            "offset": self._ledger.offset,
            "poll_in_flight": self._in_flight,
            "consecutive_failures": self._failures,
            "last_error": self.last_error,
        }

    def _poll(self) -> None:
        if self._in_flight or self.fenced:
            return
        self._poll_id += 1
        self._in_flight = True
        poll_id, me = self._poll_id, self.actor_ref
        future = self._gateway.get_updates(self._ledger.offset)

        def done(f: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if f.cancelled():
                return  # the gateway is stopping; the ledger still owes whatever this was
            exc = f.exception()
            if exc is None:
                tell_quietly(me, UpdatesFetched(poll_id, tuple(f.result() or ())))
                return
            failure = classify(exc)
            tell_quietly(me, PollFailed(poll_id, failure.kind, failure.description,
                                        failure.retry_after))
            if failure.kind is FailureKind.UNAUTHORIZED:
                log.critical("Telegram rejected the bot token")

        future.add_done_callback(done)

    def _on_updates(self, raw_updates: tuple[dict[str, Any], ...]) -> None:
        self._in_flight = False
        self._failures = 0
        self.polls += 1
        now = self.ctx.clock.monotonic()
        next_offset = self._ledger.offset
        for raw in raw_updates:
            if self.fenced:
                return  # replaced while wedged mid-batch: the successor re-fetches the rest
            update_id = update_id_of(raw)
            if update_id is not None:
                next_offset = max(next_offset or 0, update_id + 1)
            try:
                message = parse_update(raw, now)
            except MalformedUpdate as exc:
                self.malformed += 1
                log.warning("skipping malformed update: %s", exc)
                continue
            if message is None:
                continue
            self.updates += 1
            # Stored but still unanswered means a predecessor may have died between
            # storing and forwarding it; chats drop what they already have.
            if self._ledger.record(message) or self._ledger.is_pending(
                message.chat_id, message.update_id
            ):
                self.ctx.directory.tell(self._chats, MessageArrived(message))
        if next_offset is not None and not self.fenced:
            self._ledger.confirm_offset(next_offset)
        self.beat()
        self.actor_ref.tell(PollDue())

    def _on_failure(self, failure: PollFailed) -> None:
        self._in_flight = False
        self._failures += 1
        self.last_error = f"{failure.kind.value}: {failure.error}"
        if failure.kind is FailureKind.UNAUTHORIZED:
            raise RuntimeError("Telegram rejected the bot token; check the token and restart")
        if failure.retry_after is not None:
            delay = failure.retry_after
        elif failure.kind is FailureKind.CONFLICT:
            delay = CONFLICT_PAUSE
        else:
            delay = self._wait(self._failures)
        log.warning("getUpdates failed (%s); retrying in %.1fs", self.last_error, delay)
        self.beat()
        self.tell_later(delay, PollDue())
