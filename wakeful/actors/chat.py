"""ChatActor: one per chat with work. Its mailbox is the chat's order; it never waits on a brain.

On each message it acknowledges at once (👀 and typing), then asks the brain pool for
a turn only if none is in flight for this chat. The pool stores each answer in the
journal before it says the turn is over; the actor sends it through a per-chat outbox,
one part at a time and in order, recording each part Telegram took. The journal, not
this actor, holds what is still owed: a replacement instance, a passivated chat's next
instance, or the next run of the service picks up exactly where this one stopped.
A chat with nothing to do for `idle_after` asks its supervisor to stop it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import deque
from typing import Any

from wakeful.actors import commands, replies, status
from wakeful.actors.commands import Command
from wakeful.actors.outbox import Outbox, Outgoing
from wakeful.actors.status import Edit, Send, StatusBoard
from wakeful.bots.errors import TelegramFailure, classify
from wakeful.bots.gateway import TelegramGateway
from wakeful.brain.events import ApiRetry
from wakeful.messages import (
    AckDelivered,
    AckDue,
    ChatIdle,
    DeliveryDone,
    DeliveryFailed,
    IdleCheckDue,
    IncomingMessage,
    MessageArrived,
    ResendDue,
    StatusDue,
    StatusShown,
    TurnAbandoned,
    TurnCancelRequested,
    TurnFinished,
    TurnProgressed,
    TurnQueued,
    TurnRequested,
    TurnRetryScheduled,
    TurnStarted,
    TypingDue,
    WindDownRequested,
    WorkWaiting,
)
from wakeful.retry import backoff
from wakeful.state.journal import Journal
from wakeful.state.records import Answer, AnswerKind
from wakeful.supervision.context import ChildContext
from wakeful.supervision.latch import Latch
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

ACK_EMOJI = "👀"
TYPING_EVERY = 4.0  # Telegram shows "typing" for ~5 s per call
IDLE_AFTER = 300.0
SEND_SETTLE = 3.0  # how long a stopping chat waits for Telegram to answer a send


class ChatActor(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext,
        chat_id: int,
        gateway: TelegramGateway,
        journal: Journal,
        brain_pool: str = "brain_pool",
        chats: str = "chats",
        idle_after: float = IDLE_AFTER,
    ) -> None:
        super().__init__(ctx)
        self.chat_id = chat_id
        self._gateway = gateway
        self._journal = journal
        self._pool = brain_pool
        self._chats = chats
        self._idle_after = idle_after
        self._queue: deque[IncomingMessage] = deque()
        # update_id -> message_id of everything this instance still owes an answer or a
        # delivery; a message leaves only once its answer is out.
        self._known: dict[int, int] = {}
        self._in_flight: tuple[str, IncomingMessage] | None = None
        self._turns = itertools.count(1)
        self._outbox = Outbox(
            chat_id, send=self._deliver, sent=self._part_sent,
            retry_later=lambda delay, seq: self.tell_later(delay, ResendDue(seq)),
            gone=self._chat_gone,
        )
        self._wait = backoff(initial=0.5, maximum=30.0)
        self._status_board = StatusBoard()
        self._status_due_at: float | None = None
        self._idle_epoch = itertools.count(1)
        self._idle_since: int | None = None
        self._winding_down: Latch | None = None
        self._sending: Any = None  # the gateway future of the part Telegram has now
        self.status: str = "idle"

    # --- lifecycle -------------------------------------------------------------------

    def started(self) -> None:
        self._load_work()
        self._next_turn()
        self._settle()

    def stopping(self) -> None:
        # A part on its way is recorded when Telegram answers; wait for that (briefly),
        # so that whoever takes this chat over next does not send it again.
        if self._sending is not None and not self._sending.done():
            with contextlib.suppress(Exception):
                self._sending.exception(timeout=SEND_SETTLE)

    def snapshot(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "status": self.status,
            "queued": len(self._queue),
            "turn": self._in_flight[0] if self._in_flight else None,
            "outbox": len(self._outbox),
            "open_updates": len(self._known),
        }

    # --- messages --------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        if self.fenced:
            return None  # a newer instance owns this chat; anything we'd do is stale
        match message:
            case MessageArrived(message=incoming):
                self._accept(incoming, acked=False)
                self._next_turn()
            case WorkWaiting():
                self._load_work()
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
            case TurnAbandoned(turn_id=turn_id) if self._is_current(turn_id):
                self.status = "paused (the service is stopping)"
                self._show(turn_id, status.PAUSED)
            case TurnQueued() | TurnStarted() | TurnProgressed() | TurnFinished() | \
                    TurnRetryScheduled() | TurnAbandoned():
                pass  # about a turn a previous instance started; the journal re-queued it
            case StatusDue():
                self._status_due_at = None
                self._pump_status()
            case StatusShown():
                self._on_status_shown(message)
            case TypingDue(turn_id=turn_id):
                if self._is_current(turn_id) and self._winding_down is None:
                    self._typing()
                    self.tell_later(TYPING_EVERY, TypingDue(turn_id))
            case DeliveryDone(seq=seq, message_id=message_id):
                self._outbox.delivered(seq, message_id)
            case DeliveryFailed(what="react"):
                self._on_ack_failed(message)
            case DeliveryFailed(what="send"):
                self._outbox.failed(message.details["seq"], message.details["failure"])
            case AckDue(update_id=update_id, message_id=message_id, attempt=attempt):
                self._react(update_id, message_id, attempt)
            case AckDelivered(update_id=update_id):
                self._journal.mark_acked(update_id)
            case ResendDue(seq=seq):
                self._outbox.resend(seq)
            case IdleCheckDue(epoch=epoch):
                if epoch == self._idle_since and self._winding_down is None:
                    self.ctx.directory.tell(self._chats, ChatIdle(self.chat_id,
                                                                  self.ctx.generation))
            case WindDownRequested(latch=latch):
                self._wind_down(latch)
            case _:
                return super().handle(message)
        self._settle()
        return None

    # --- intake ----------------------------------------------------------------------

    def _load_work(self) -> None:
        """Take up what the journal says this chat is owed, in the chat's order."""
        work = self._journal.open_work(self.chat_id, self.ctx.clock.monotonic())
        if work.carried_over and not self.fenced:
            self._outbox.notice(replies.restarted(work.carried_over))
            self._journal.told_restart(self.chat_id)
        for pending in work.answers:
            if pending.update_id in self._known:
                continue
            self._known[pending.update_id] = pending.reply_to
            self._outbox.deliver(pending.update_id, pending.reply_to,
                                 replies.parts(pending.answer), pending.parts_sent)
        for open_message in work.messages:
            self._accept(open_message.message, open_message.acked)

    def _accept(self, message: IncomingMessage, acked: bool) -> None:
        if message.update_id in self._known:
            return
        self._known[message.update_id] = message.message_id
        if not acked and not self.fenced:
            self._react(message.update_id, message.message_id)
            self._typing()
        if message.text is None or not message.text.strip():
            self._reply(message, Answer(AnswerKind.REPLY, replies.CANNOT_READ))
            return
        if commands.parse(message.text) is Command.CANCEL:
            self._cancel(message)  # now, not in turn: it is about the turn already running
            return
        self._queue.append(message)

    def _cancel(self, message: IncomingMessage) -> None:
        if self.fenced:
            return  # replaced mid-handler: the successor reads this /cancel from the journal
        if self._in_flight is None:
            self._reply(message, Answer(AnswerKind.REPLY, commands.NOTHING_TO_CANCEL))
            return
        # The cancelled turn's own reply says so; the /cancel itself needs no answer.
        self._reply(message, Answer(AnswerKind.NONE))
        self.ctx.directory.tell(self._pool, TurnCancelRequested(self.chat_id,
                                                                self._in_flight[0]))

    def _next_turn(self) -> None:
        if self.fenced or self._winding_down is not None:
            return  # replaced mid-handler, or stopping: the journal keeps what waits
        # /new applies in message order: what came before it still belongs to the old session.
        while self._in_flight is None and self._queue \
                and commands.parse(self._queue[0].text) is Command.NEW:
            new = self._queue.popleft()
            self._journal.set_session(self.chat_id, None)
            self._reply(new, Answer(AnswerKind.REPLY, commands.NEW_SESSION))
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
        self.ctx.directory.tell(self._pool, TurnRequested(
            self.chat_id, turn_id, message.update_id, message.text,
            self._journal.session(self.chat_id)))
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
        self._status_board.close(finished.turn_id, status.final(finished.answer))
        self._pump_status()
        # The pool stored the answer before telling us: from here it is only delivery
        # (unless a journal reload already delivered it).
        if finished.update_id in self._known:
            self._outbox.deliver(finished.update_id, message.message_id,
                                 replies.parts(finished.answer))
        self._next_turn()

    def _reply(self, message: IncomingMessage, answer: Answer) -> None:
        """Wakeful's own answer: stored first like any other, then delivered."""
        if self.fenced:
            return
        self._journal.reply(message.update_id, answer)
        self._outbox.deliver(message.update_id, message.message_id, replies.parts(answer))

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
                return  # the gateway is stopping
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

    # --- delivery: the outbox decides, these do the I/O and the bookkeeping ----------

    def _deliver(self, outgoing: Outgoing) -> None:
        if self.fenced:
            return  # replaced mid-handler: the successor answers from the journal
        me, seq, journal = self.actor_ref, outgoing.seq, self._journal

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return  # the gateway is stopping; the journal still owes whatever this was
            exc = future.exception()
            if exc is None:
                # Recorded here, where Telegram's answer lands, not after a trip through
                # the mailbox: an actor stopped meanwhile must not make its successor
                # send this part a second time.
                _record_part(journal, outgoing, future.result())
                tell_quietly(me, DeliveryDone(seq, future.result()))
            else:
                failure = classify(exc)
                tell_quietly(me, DeliveryFailed("send", failure.description,
                                                {"seq": seq, "failure": failure}))

        self._sending = self._gateway.send_message(self.chat_id, outgoing.text,
                                                   outgoing.reply_to)
        self._sending.add_done_callback(done)

    def _part_sent(self, outgoing: Outgoing, message_id: int | None) -> None:
        if outgoing.update_id is None:
            return
        if outgoing.seq == 0:  # nothing was sent: the outbox completes it at once
            _record_part(self._journal, outgoing, None)
        if outgoing.last:
            self._known.pop(outgoing.update_id, None)

    def _chat_gone(self, reason: str) -> None:
        if self.fenced:
            return
        self._journal.chat_gone(self.chat_id, reason)
        self._queue.clear()
        self._known.clear()
        if self._in_flight is not None:
            self.ctx.directory.tell(self._pool, TurnCancelRequested(self.chat_id,
                                                                    self._in_flight[0]))

    # --- acknowledgements: hints, but a 👀 is worth retrying until the answer is out --

    def _react(self, update_id: int, message_id: int, attempt: int = 1) -> None:
        if self.fenced:
            return
        me = self.actor_ref

        def done(future: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if future.cancelled():
                return
            exc = future.exception()
            if exc is None:
                tell_quietly(me, AckDelivered(update_id))
                return
            failure = classify(exc)
            tell_quietly(me, DeliveryFailed("react", failure.description, {
                "update_id": update_id, "message_id": message_id, "attempt": attempt,
                "failure": failure}))

        self._gateway.react(self.chat_id, message_id, ACK_EMOJI).add_done_callback(done)

    def _on_ack_failed(self, failed: DeliveryFailed) -> None:
        failure: TelegramFailure = failed.details["failure"]
        attempt: int = failed.details["attempt"]
        message_id: int = failed.details["message_id"]
        still_open = message_id in self._known.values()
        if not failure.retryable or not still_open:
            log.info("chat %s: no 👀 after %d attempts: %s", self.chat_id, attempt,
                     failure.description)
            return
        delay = failure.retry_after or self._wait(attempt)
        self.tell_later(delay, AckDue(failed.details["update_id"], message_id, attempt + 1))

    def _typing(self) -> None:
        if self.fenced:
            return
        self._gateway.send_typing(self.chat_id).add_done_callback(_log_failure)

    # --- stopping: passivation and the service's clean stop --------------------------

    def _settle(self) -> None:
        """After every message: an idle chat schedules its own passivation check."""
        idle = (self._in_flight is None and not self._queue and self._outbox.idle
                and self._status_board.idle)
        if self._winding_down is not None:
            if self._outbox.idle and self._status_board.idle:
                self._winding_down.done(self.ctx.child_id)
            return
        if not idle:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = next(self._idle_epoch)
            self.tell_later(self._idle_after, IdleCheckDue(self._idle_since))

    def _wind_down(self, latch: Latch) -> None:
        self._winding_down = latch
        self._queue.clear()  # still open in the journal: the next run takes them up
        if self._in_flight is not None:
            # Its turn was given back to the journal; the status must not say "working".
            self._show(self._in_flight[0], status.PAUSED)
            self._status_board.close(self._in_flight[0], status.PAUSED)
            self._pump_status()


def _record_part(journal: Journal, outgoing: Outgoing, message_id: int | None) -> None:
    """Executed on the gateway's event-loop thread, or the actor's for an empty answer."""
    if outgoing.update_id is None:
        return
    if message_id is not None:
        journal.part_sent(outgoing.update_id, outgoing.index, message_id)
    if outgoing.last:
        journal.answer_delivered(outgoing.update_id)


def _log_failure(future: Any) -> None:
    """Executed on the gateway's event-loop thread."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.info("acknowledgement failed: %s", classify(exc).description)
