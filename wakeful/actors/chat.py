"""ChatActor: one per chat. Its mailbox is the chat's order; it never waits on a brain.

On each message it acknowledges at once (👀 and typing), then asks the brain pool for
a turn only if none is in flight for this chat. The pool answers with messages; the
actor sends replies through a per-chat outbox, one at a time, so Telegram receives
them in the order the user wrote. The ledger, not this actor, holds what is still owed,
so a replacement instance picks up exactly where this one stopped.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Any

from wakeful.actors import commands, status
from wakeful.actors.commands import Command
from wakeful.actors.outbox import Outbox, Outgoing
from wakeful.actors.status import Edit, Send, StatusBoard
from wakeful.bots.errors import TelegramFailure, classify
from wakeful.bots.gateway import TelegramGateway
from wakeful.brain.events import ApiRetry
from wakeful.messages import (
    AckDue,
    DeliveryDone,
    DeliveryFailed,
    IncomingMessage,
    MessageArrived,
    ResendDue,
    StatusDue,
    StatusShown,
    TurnCancelRequested,
    TurnFinished,
    TurnProgressed,
    TurnQueued,
    TurnRequested,
    TurnRetryScheduled,
    TurnStarted,
    TypingDue,
)
from wakeful.retry import backoff
from wakeful.state.ledger import Ledger
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

ACK_EMOJI = "👀"
TYPING_EVERY = 4.0  # Telegram shows "typing" for ~5 s per call
MAX_ACK_ATTEMPTS = 3  # a late 👀 still tells the user they were heard; a lost one doesn't
SORRY = "⚠️ Sorry, I could not answer that: "
CANCELLED_REPLY = "⏹ Cancelled: I stopped working on this message."
CONTEXT_LOST = ("ℹ️ I could not find our earlier conversation, so this answer starts "
                "a new one.")
SESSION_RESET = ("ℹ️ Claude did not shut down cleanly after answering, so your next "
                 "message starts a new conversation.")


class ChatActor(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext,
        chat_id: int,
        gateway: TelegramGateway,
        ledger: Ledger,
        brain_pool: str = "brain_pool",
    ) -> None:
        super().__init__(ctx)
        self.chat_id = chat_id
        self._gateway = gateway
        self._ledger = ledger
        self._pool = brain_pool
        self._queue: deque[IncomingMessage] = deque()
        self._known: set[int] = set()
        self._in_flight: tuple[str, IncomingMessage] | None = None
        self._turns = itertools.count(1)
        self._outbox = Outbox(
            chat_id, send=self._deliver,
            answered=self._answered,
            retry_later=lambda delay, seq: self.tell_later(delay, ResendDue(seq)),
        )
        self._wait = backoff(initial=0.5, maximum=20.0)
        self._status_board = StatusBoard()
        self._status_due_at: float | None = None
        self.status: str = "idle"

    # --- lifecycle -------------------------------------------------------------------

    def started(self) -> None:
        # Whatever a previous instance received but did not answer is still ours.
        for message in self._ledger.pending(self.chat_id):
            self._accept(message)
        self._next_turn()

    def snapshot(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "status": self.status,
            "queued": len(self._queue),
            "turn": self._in_flight[0] if self._in_flight else None,
            "outbox": len(self._outbox),
            "open_updates": len(self._known),
            "session": self._ledger.session(self.chat_id) is not None,
        }

    # --- messages --------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        if self.fenced:
            return None  # a newer instance owns this chat; anything we'd do is stale
        match message:
            case MessageArrived(message=incoming):
                self._accept(incoming)
                self._next_turn()
            case TurnQueued(turn_id=turn_id, position=position) if self._is_current(turn_id):
                self.status = f"queued #{position}"
                self._show(turn_id, status.queued(position))
            case TurnStarted(turn_id=turn_id, attempt=attempt) if self._is_current(turn_id):
                self.status = "thinking"
                # A wait that ended before its message appeared needs no message now.
                visible = self._status_board.visible(turn_id)
                self._show(turn_id, status.working(attempt) if visible else None)
            case TurnProgressed(turn_id=turn_id, event=event) if self._is_current(turn_id):
                self._on_progress(turn_id, event)
            case TurnRetryScheduled(turn_id=turn_id) if self._is_current(turn_id):
                self.status = f"retrying ({message.reason})"
                self._show(turn_id, status.retry_scheduled(message))
            case TurnFinished(turn_id=turn_id) if self._is_current(turn_id):
                self._on_finished(message)
            case TurnQueued() | TurnStarted() | TurnProgressed() | TurnFinished() | \
                    TurnRetryScheduled():
                pass  # about a turn a previous instance started; the ledger re-queued it
            case StatusDue():
                self._status_due_at = None
                self._pump_status()
            case StatusShown():
                self._on_status_shown(message)
            case TypingDue(turn_id=turn_id):
                if self._is_current(turn_id):
                    self._typing()
                    self.tell_later(TYPING_EVERY, TypingDue(turn_id))
            case DeliveryDone(seq=seq):
                self._outbox.delivered(seq)
            case DeliveryFailed(what="react"):
                self._on_ack_failed(message)
            case DeliveryFailed(what="send"):
                self._outbox.failed(message.details["seq"], message.details["failure"])
            case AckDue(message_id=message_id, attempt=attempt):
                self._react(message_id, attempt)
            case ResendDue(seq=seq):
                self._outbox.resend(seq)
            case _:
                return super().handle(message)
        return None

    # --- intake ----------------------------------------------------------------------

    def _accept(self, message: IncomingMessage) -> None:
        if message.update_id in self._known:
            return
        self._known.add(message.update_id)
        if not self.fenced and self._ledger.mark_acked(self.chat_id, message.update_id):
            self._react(message.message_id)
            self._typing()
        if message.text is None or not message.text.strip():
            self._reply("I can only read text messages for now.", message)
            return
        if commands.parse(message.text) is Command.CANCEL:
            self._cancel(message)  # now, not in turn: it is about the turn already running
            return
        self._queue.append(message)

    def _cancel(self, message: IncomingMessage) -> None:
        if self.fenced:
            return  # replaced mid-handler: the successor reads this /cancel from the ledger
        if self._in_flight is None:
            self._reply(commands.NOTHING_TO_CANCEL, message)
            return
        # The cancelled turn's own reply says so; the /cancel itself needs no answer.
        self._answered(message.update_id)
        self.ctx.directory.tell(self._pool, TurnCancelRequested(self.chat_id,
                                                                self._in_flight[0]))

    def _next_turn(self) -> None:
        if self.fenced:
            return  # replaced mid-handler: the successor starts from the ledger
        # /new applies in message order: what came before it still belongs to the old session.
        while self._in_flight is None and self._queue \
                and commands.parse(self._queue[0].text) is Command.NEW:
            new = self._queue.popleft()
            self._ledger.set_session(self.chat_id, None)
            self._reply(commands.NEW_SESSION, new)
        if self._in_flight is not None or not self._queue:
            if self._in_flight is None:
                self.status = "idle"
            return
        message = self._queue.popleft()
        turn_id = f"{self.chat_id}/{self.ctx.generation}/{next(self._turns)}"
        self._in_flight = (turn_id, message)
        self.status = "requested"
        self._status_board.open(turn_id, self.ctx.clock.monotonic())
        assert message.text is not None
        if self.fenced:
            return  # replaced mid-handler: the successor requests this turn itself
        self.ctx.directory.tell(self._pool, TurnRequested(
            self.chat_id, turn_id, message.text, self._ledger.session(self.chat_id)))
        self.tell_later(TYPING_EVERY, TypingDue(turn_id))

    def _is_current(self, turn_id: str) -> bool:
        return self._in_flight is not None and self._in_flight[0] == turn_id

    # --- turn results ----------------------------------------------------------------

    def _on_progress(self, turn_id: str, event: Any) -> None:
        if isinstance(event, ApiRetry):
            text = status.api_retrying(event)
            self.status = text
            self._show(turn_id, text)

    def _on_finished(self, finished: TurnFinished) -> None:
        assert self._in_flight is not None
        _, message = self._in_flight
        self._in_flight = None
        self._status_board.close(finished.turn_id, status.final(finished))
        self._pump_status()
        # Keep the session the CLI reported, not the one we passed: a resume may hand back
        # a new id. None means the run started no session, so the old one still holds.
        if finished.session_reset:
            self._ledger.set_session(self.chat_id, None)
        elif finished.session_id:
            self._ledger.set_session(self.chat_id, finished.session_id)
        if finished.context_lost:
            self._notice(CONTEXT_LOST)
        if finished.cancelled:
            self._reply(CANCELLED_REPLY, message)
        elif finished.ok:
            self._reply(finished.text, message)
        else:
            self._reply(SORRY + (finished.error or "unknown error"), message)
        if finished.ok and finished.session_reset:
            self._notice(SESSION_RESET)
        self._next_turn()

    # --- the status message: one per turn, edited in place, never faster than allowed ---

    def _show(self, turn_id: str, text: str | None) -> None:
        self._status_board.want(turn_id, text)
        self._pump_status()

    def _pump_status(self) -> None:
        now = self.ctx.clock.monotonic()
        call = self._status_board.next_call(now)
        if isinstance(call, float):
            if self._status_due_at is None or call < self._status_due_at:
                self._status_due_at = call
                self.tell_later(call - now, StatusDue())
        elif call is not None:
            self._status_call(call)

    def _status_call(self, call: Send | Edit) -> None:
        if self.fenced:
            return
        me, turn_id, text = self.actor_ref, call.turn_id, call.text
        known_id = call.message_id if isinstance(call, Edit) else None

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return  # the gateway is stopping; the ledger still owes whatever this was
            exc = future.exception()
            if exc is None:
                message_id = future.result() if isinstance(call, Send) else known_id
                tell_quietly(me, StatusShown(turn_id, text, message_id))
                return
            failure = classify(exc)
            tell_quietly(me, StatusShown(turn_id, text, known_id, failure.description,
                                         failure.retry_after))

        if isinstance(call, Send):
            # Not a reply: the answer is the reply, this only tells the user why it's late.
            future = self._gateway.send_message(self.chat_id, text)
        else:
            future = self._gateway.edit_message(self.chat_id, call.message_id, text)
        future.add_done_callback(done)

    def _on_status_shown(self, shown: StatusShown) -> None:
        # Telegram's "not modified" means it already shows this text: that's success.
        ok = shown.error is None or "not modified" in shown.error
        if not ok:
            log.info("chat %s: status message failed: %s", self.chat_id, shown.error)
        self._status_board.shown(shown.turn_id, shown.text, shown.message_id, ok,
                                 self.ctx.clock.monotonic(), shown.retry_after)
        self._pump_status()

    # --- replies go through the outbox, which keeps their order --------------------

    def _answered(self, update_id: int) -> None:
        self._ledger.answered(self.chat_id, update_id)
        # Answered updates are never delivered again (the ledger refuses them), so the
        # dedupe set only needs what is still open; it must not grow with the chat's age.
        self._known.discard(update_id)

    def _reply(self, text: str, message: IncomingMessage) -> None:
        self._outbox.reply(text, message.message_id, message.update_id)

    def _notice(self, text: str) -> None:
        self._outbox.notice(text)

    def _deliver(self, outgoing: Outgoing) -> None:
        if self.fenced:
            return  # replaced mid-handler: the successor answers from the ledger
        me, seq = self.actor_ref, outgoing.seq

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return  # the gateway is stopping; the ledger still owes whatever this was
            exc = future.exception()
            if exc is None:
                tell_quietly(me, DeliveryDone(seq))
            else:
                failure = classify(exc)
                tell_quietly(me, DeliveryFailed("send", failure.description,
                                                {"seq": seq, "failure": failure}))

        self._gateway.send_message(self.chat_id, outgoing.text, outgoing.reply_to) \
            .add_done_callback(done)

    # --- acknowledgements (fire and forget: they are hints, not content) -------------

    def _react(self, message_id: int, attempt: int = 1) -> None:
        if self.fenced:
            return
        me = self.actor_ref

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return  # the gateway is stopping; the ledger still owes whatever this was
            exc = future.exception()
            if exc is not None:
                failure = classify(exc)
                tell_quietly(me, DeliveryFailed("react", failure.description, {
                    "message_id": message_id, "attempt": attempt, "failure": failure}))

        self._gateway.react(self.chat_id, message_id, ACK_EMOJI).add_done_callback(done)

    def _on_ack_failed(self, failed: DeliveryFailed) -> None:
        failure: TelegramFailure = failed.details["failure"]
        attempt: int = failed.details["attempt"]
        if not failure.retryable or attempt >= MAX_ACK_ATTEMPTS:
            log.info("chat %s: no 👀 after %d attempts: %s", self.chat_id, attempt,
                     failure.description)
            return
        delay = failure.retry_after or self._wait(attempt)
        self.tell_later(delay, AckDue(failed.details["message_id"], attempt + 1))

    def _typing(self) -> None:
        if self.fenced:
            return
        self._gateway.send_typing(self.chat_id).add_done_callback(_log_failure)


def _log_failure(future: Any) -> None:
    """Executed on the gateway's event-loop thread."""
    if future.cancelled():
        return  # the gateway is stopping; the ledger still owes whatever this was
    exc = future.exception()
    if exc is not None:
        log.info("acknowledgement failed: %s", classify(exc).description)
