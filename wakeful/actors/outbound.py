"""Outbound: the one path out to Telegram. Every call but getUpdates goes through here.

Actors submit calls (`CallRequested`) or stored answers (`DeliveryRequested`); the
schedule (wakeful/delivery/schedule.py) decides which goes next, within Telegram's
limits and a bounded number of calls in flight; the policy (delivery/policy.py)
decides what a failure leads to. This actor only applies them: it hands calls to the
gateway, turns what comes back into typed results for whoever asked (`Delivered`,
`DeliveryFailed`, `AnswerDelivered`, `ChatGone`), and records each answer part
Telegram took in the journal the moment it knows.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from wakeful.actors.names import chat_address
from wakeful.actors.replies import Piece
from wakeful.bots.errors import FailureKind, TelegramFailure, classify
from wakeful.bots.gateway import TelegramGateway
from wakeful.delivery.calls import Lane, React, SavedFile, SendDraft, SendText
from wakeful.delivery.limits import Limits
from wakeful.delivery.policy import ChatIsGone, GiveUp, Policy, Retry, Succeeded
from wakeful.delivery.schedule import Schedule, Ticket
from wakeful.delivery.settings import DeliveryConfig
from wakeful.histogram import ACK_SECONDS, Histogram
from wakeful.messages import (
    AnswerDelivered,
    CallCompleted,
    CallRequested,
    CallWithdrawn,
    ChatGone,
    Delivered,
    DeliveryFailed,
    DeliveryRequested,
    FlushRequested,
    OutboundDue,
)
from wakeful.state.journal import Journal
from wakeful.supervision.context import ChildContext
from wakeful.supervision.latch import Latch
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

SUPERSEDED = TelegramFailure(FailureKind.BAD_REQUEST, "superseded by a newer call")


@dataclass(frozen=True)
class _AnswerPart:
    """Tag of an answer part's ticket: where it belongs in the journal."""

    update_id: int
    index: int
    last: bool
    reply_to: int
    requester: str | None


class Outbound(SupervisedActor):
    def __init__(self, ctx: ChildContext, gateway: TelegramGateway, journal: Journal,
                 config: DeliveryConfig) -> None:
        super().__init__(ctx)
        self._gateway = gateway
        self._journal = journal
        self._config = config
        self._schedule = Schedule(Limits(config.limits()), config.max_in_flight,
                                  config.urgent_slots)
        self._policy = Policy(config.progress_attempts, config.max_backoff)
        self._flying: dict[int, Ticket] = {}
        self._answers: set[int] = set()  # update_ids whose parts are queued here
        self._wake_at: float | None = None
        self._flushing: Latch | None = None
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.throttled = 0
        self.superseded = 0
        self.stale = 0
        self.answered = 0  # answers whose last part Telegram took
        self.calls: Counter[str] = Counter()  # made, whatever came back
        self.failed_by_call: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.ack_seconds = Histogram(ACK_SECONDS)

    # --- messages --------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        match message:
            case CallRequested(call=call, requester=requester, tag=tag):
                self._submit(Ticket(call, self.ctx.clock.monotonic(), requester, tag))
            case CallWithdrawn(chat_id=chat_id, requester=requester, tag=tag):
                for old in self._schedule.drop(chat_id, keep=lambda t: not (
                        t.requester == requester and t.tag == tag)):
                    self.superseded += 1
                    self._tell(old, DeliveryFailed(old.call, SUPERSEDED, old.tag))
            case DeliveryRequested():
                self._deliver(message)
            case CallCompleted():
                self._completed(message)
            case OutboundDue():
                self._wake_at = None
            case FlushRequested(latch=latch):
                self._flushing = latch
                latch.expect(self.ctx.child_id)
                latch.close()
            case _:
                return super().handle(message)
        self._pump()
        return None

    def chat_of(self, message: Any) -> int | None:
        match message:
            case CallRequested(call=call):
                return call.chat_id
            case CallCompleted(ticket_id=ticket_id):
                ticket = self._flying.get(ticket_id)
                return None if ticket is None else ticket.chat_id
        return super().chat_of(message)

    def snapshot(self) -> dict[str, Any]:
        return {
            "waiting": self._schedule.waiting(),
            "in_flight": self._schedule.in_flight(),
            "answers_in_delivery": len(self._answers),
            "sent": dict(self.sent),
            "failed": dict(self.failed),
            "calls": dict(self.calls),
            "failed_by_call": {call: dict(kinds) for call, kinds in self.failed_by_call.items()},
            "answered": self.answered,
            "histograms": {"ack_seconds": self.ack_seconds.view()},
            "throttled_429": self.throttled,
            "superseded": self.superseded,
            "stale_typing_dropped": self.stale,
            "limits_paused_until": self._schedule.limits.paused_until(),
            "limit_windows": self._schedule.limits.tracked(),
            # What a reader wants from the line above: how long the bot still waits (429).
            "paused_for": round(max(0.0, self._schedule.limits.paused_until()
                                    - self.ctx.clock.monotonic()), 1),
        }

    # --- in ------------------------------------------------------------------------

    def _submit(self, ticket: Ticket) -> None:
        old = self._schedule.submit(ticket)
        if old is not None:
            self.superseded += 1
            self._tell(old, DeliveryFailed(old.call, SUPERSEDED, old.tag))

    def _deliver(self, request: DeliveryRequested) -> None:
        if request.update_id in self._answers:
            return  # already on its way (a replaced chat asked again)
        pieces = request.pieces
        if request.start >= len(pieces):
            self._answer_done(request.chat_id, request.update_id, request.requester)
            return
        self._answers.add(request.update_id)
        # The answer replaces its live draft: a draft still waiting would only come after.
        self._schedule.drop(request.chat_id, keep=lambda t: not isinstance(t.call, SendDraft))
        now = self.ctx.clock.monotonic()
        for index in range(request.start, len(pieces)):
            piece: Piece = pieces[index]
            tag = _AnswerPart(request.update_id, index, index == len(pieces) - 1,
                              request.reply_to, request.requester)
            call = SendText(request.chat_id, piece.part,
                            reply_to=request.reply_to if piece.reply else None)
            self._schedule.submit(Ticket(call, now, None, tag))

    # --- out -----------------------------------------------------------------------

    def _pump(self) -> None:
        now = self.ctx.clock.monotonic()
        while True:
            found = self._schedule.next(now)
            if not isinstance(found, Ticket):
                break
            self._dispatch(found)
        self.stale += len(self._schedule.take_dropped())
        if isinstance(found, float) and (self._wake_at is None or found < self._wake_at):
            self._wake_at = found
            self.tell_later(found - now, OutboundDue())
        if self._flushing is not None and not self._flying and self._schedule.empty(
                (Lane.ACK, Lane.ANSWER, Lane.PROGRESS)):
            self._flushing.done(self.ctx.child_id)

    def _dispatch(self, ticket: Ticket) -> None:
        if self.fenced:
            return
        self._flying[ticket.id] = ticket
        self.calls[type(ticket.call).__name__] += 1
        me, ticket_id = self.actor_ref, ticket.id

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return  # the gateway is stopping; the journal still owes what this was
            exc = future.exception()
            if exc is None:
                result = future.result()
                tell_quietly(me, CallCompleted(ticket_id, saved=result)
                             if isinstance(result, SavedFile) else CallCompleted(ticket_id, result))
            else:
                tell_quietly(me, CallCompleted(ticket_id, failure=classify(exc)))

        self._gateway.call(ticket.call).add_done_callback(done)

    def _completed(self, completed: CallCompleted) -> None:
        ticket = self._flying.pop(completed.ticket_id, None)
        if ticket is None:
            return
        now = self.ctx.clock.monotonic()
        failure = completed.failure
        if failure is None:
            self._schedule.done(ticket, now)
            self._succeeded(ticket, completed.message_id, completed.saved)
            return
        self.failed[failure.kind.value] += 1
        self.failed_by_call[type(ticket.call).__name__][failure.kind.value] += 1
        if failure.kind is FailureKind.RETRY_LATER:
            self.throttled += 1
            until = now + (failure.retry_after or 1.0)
            scope = ticket.chat_id if self._config.flood_scope == "chat" else None
            self._schedule.limits.pause(scope, until)
        decision = self._policy.decide(ticket.call, failure, ticket.attempts,
                                       self._still_wanted(ticket))
        match decision:
            case Succeeded():
                self._schedule.done(ticket, now)
                self._succeeded(ticket, None)
            case Retry(delay=delay, call=call):
                if call is not None:
                    ticket.call = call
                if not self._schedule.requeue(ticket, now + delay, now):
                    self._tell(ticket, DeliveryFailed(ticket.call, SUPERSEDED, ticket.tag))
            case ChatIsGone():
                self._schedule.done(ticket, now)
                self._chat_gone(ticket.chat_id, failure)
            case GiveUp():
                self._schedule.done(ticket, now)
                self._given_up(ticket, failure)

    def _succeeded(self, ticket: Ticket, message_id: int | None,
                   saved: SavedFile | None = None) -> None:
        self.sent[type(ticket.call).__name__] += 1
        if isinstance(ticket.call, React) and ticket.call.since is not None:
            self.ack_seconds.observe(self.ctx.clock.monotonic() - ticket.call.since)
        tag = ticket.tag
        if isinstance(tag, _AnswerPart):
            # Recorded before anyone hears of it: a crash from here on cannot send it twice.
            if message_id is not None:
                self._journal.part_sent(tag.update_id, tag.index, message_id)
            if tag.last:
                self.answered += 1
                self._answer_done(ticket.chat_id, tag.update_id, tag.requester, tag.reply_to)
            return
        self._tell(ticket, Delivered(ticket.call, message_id, ticket.tag, saved))

    def _answer_done(self, chat_id: int, update_id: int, requester: str | None,
                     reply_to: int | None = None) -> None:
        self._journal.answer_delivered(update_id)
        self._answers.discard(update_id)
        if reply_to is not None:
            # Its 👀 no longer matters: the answer says more.
            self._schedule.drop(chat_id, keep=lambda t: not (
                isinstance(t.call, React) and t.call.message_id == reply_to))
            if self._config.done_reaction:
                self._submit(Ticket(React(chat_id, reply_to, self._config.done_reaction,
                                          lane=Lane.ANSWER), self.ctx.clock.monotonic()))
        if requester is not None:
            self.ctx.directory.tell(requester, AnswerDelivered(chat_id, update_id))

    def _given_up(self, ticket: Ticket, failure: TelegramFailure) -> None:
        tag = ticket.tag
        if isinstance(tag, _AnswerPart):
            # Only a notice that Telegram refused too ends here: the part is skipped.
            log.error("chat %s: giving up on part %d of an answer: %s", ticket.chat_id,
                      tag.index, failure.description)
            if tag.last:
                self._answer_done(ticket.chat_id, tag.update_id, tag.requester, tag.reply_to)
            return
        if ticket.call.lane is not Lane.TYPING:
            log.info("chat %s: %s given up: %s", ticket.chat_id, type(ticket.call).__name__,
                     failure.description)
        self._tell(ticket, DeliveryFailed(ticket.call, failure, ticket.tag))

    def _chat_gone(self, chat_id: int, failure: TelegramFailure) -> None:
        log.warning("chat %s is gone (%s): its calls end here", chat_id, failure.description)
        self._journal.chat_gone(chat_id, failure.description)
        for ticket in self._schedule.drop(chat_id):
            if isinstance(ticket.tag, _AnswerPart):
                self._answers.discard(ticket.tag.update_id)
            else:
                self._tell(ticket, DeliveryFailed(ticket.call, failure, ticket.tag))
        if not self.fenced:
            self.ctx.directory.tell(chat_address(chat_id), ChatGone(chat_id, failure.description))

    def _still_wanted(self, ticket: Ticket) -> bool:
        if not isinstance(ticket.call, React) or not isinstance(ticket.tag, int):
            return True
        return self._journal.still_owed(ticket.tag)

    def _tell(self, ticket: Ticket, message: Any) -> None:
        if ticket.requester is not None and not self.fenced:
            self.ctx.directory.tell(ticket.requester, message)

