"""ChatActor: one per chat with work. Its mailbox is the chat's order; it never waits on a brain.

On each message it asks for a 👀 at once and queues the message; it asks the brain pool
for a turn only if none is in flight for this chat. While the turn runs it shows
typing, a live draft of the answer (private chats) or a status line (groups, and any
chat kept waiting by a queue or API retries). The pool stores each answer in the
journal before it says the turn is over; the outbound actor delivers it. Everything
said to Telegram goes through the outbound actor, which reports back typed results.
The journal, not this actor, holds what is still owed: a replacement, a passivated
chat's next instance, or the next run of the service picks up where this one stopped.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from wakeful.actors import commands, replies, status
from wakeful.actors.commands import Command
from wakeful.actors.drafts import Draft
from wakeful.actors.status import Edit, Send, StatusBoard
from wakeful.bots.errors import FailureKind
from wakeful.brain.events import ApiRetry, TextDelta, ToolUse
from wakeful.delivery.calls import EditText, Lane, React, SendDraft, SendText, Typing
from wakeful.delivery.render import render_plain
from wakeful.messages import (
    AnswerDelivered,
    CallRequested,
    CallWithdrawn,
    ChatGone,
    ChatIdle,
    Delivered,
    DeliveryFailed,
    DeliveryRequested,
    IdleCheckDue,
    IncomingMessage,
    MessageArrived,
    StatusDue,
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
from wakeful.state.journal import Journal, JournalError
from wakeful.state.records import Answer, AnswerKind
from wakeful.supervision.context import ChildContext
from wakeful.supervision.latch import Latch
from wakeful.supervision.supervised import SupervisedActor

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows "typing…" for about 5 s per call
IDLE_AFTER = 300.0
# State dumps show the first characters of at most this many queued messages.
PREVIEWS = 20
PREVIEW_CHARS = 40


@dataclass(frozen=True)
class _StatusTag:
    turn_id: str
    text: str


class ChatActor(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext,
        chat_id: int,
        journal: Journal,
        brain_pool: str = "brain_pool",
        chats: str = "chats",
        outbound: str = "outbound",
        idle_after: float = IDLE_AFTER,
    ) -> None:
        super().__init__(ctx)
        self.chat_id = chat_id
        self._journal = journal
        self._pool = brain_pool
        self._chats = chats
        self._outbound = outbound
        self._idle_after = idle_after
        self._private = chat_id > 0  # Telegram's group ids are negative
        self._queue: deque[IncomingMessage] = deque()
        # update_id -> message_id of everything this instance still owes an answer or a
        # delivery; a message leaves only once its answer is out.
        self._known: dict[int, int] = {}
        self._in_flight: tuple[str, IncomingMessage] | None = None
        self._running: str | None = None  # the turn whose brain runs now
        self._draft: Draft | None = None
        self._turns = itertools.count(1)
        self._status_board = StatusBoard()
        self._status_due_at: float | None = None
        self._idle_epoch = itertools.count(1)
        self._idle_since: int | None = None
        self._winding_down: Latch | None = None
        self.status: str = "idle"

    # --- lifecycle -------------------------------------------------------------------

    def started(self) -> None:
        self._load_work()
        self._next_turn()
        self._settle()

    def snapshot(self) -> dict[str, Any]:
        now = self.ctx.clock.monotonic()
        turn = self._in_flight[0] if self._in_flight else None
        try:
            session = self._journal.session(self.chat_id)
            totals = self._journal.chat_totals(self.chat_id)
        except JournalError:  # a state request must never be what crashes a chat
            session, totals = None, {}
        return {
            "chat_id": self.chat_id,
            "status": self.status,
            "queued": len(self._queue),
            "turn": turn,
            "owed": len(self._known),
            # Since the chat asked the pool for it (waiting in line included).
            "turn_age": round(self._status_board.age(turn, now), 1) if turn else None,
            "turn_preview": _preview(self._in_flight[1].text) if self._in_flight else None,
            # The head of the queue only: a long queue must not make a dump slow or huge.
            "previews": [_preview(m.text) for m in itertools.islice(self._queue, PREVIEWS)],
            "session_id": session,
            "turns": totals.get("turns"),
            "cost_usd": totals.get("cost_usd"),
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
            case TurnQueued() | TurnStarted() | TurnProgressed() | TurnRetryScheduled() | \
                    TurnFinished() | TurnAbandoned():
                if self._is_current(message.turn_id):
                    self._on_turn(message)
                # else: a turn a previous instance started; the journal re-queued it
            case StatusDue():
                self._status_due_at = None
                self._pump_progress()
            case TypingDue(turn_id=turn_id):
                if self._running == turn_id and self._winding_down is None:
                    self._say(Typing(self.chat_id))
                    self.tell_later(TYPING_EVERY, TypingDue(turn_id))
            case Delivered() | DeliveryFailed():
                self._on_result(message)
            case AnswerDelivered(update_id=update_id):
                self._known.pop(update_id, None)
            case ChatGone():
                self._chat_gone()
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
            self._say(SendText(self.chat_id, replies.notice(replies.restarted(
                work.carried_over)).part))
            self._journal.told_restart(self.chat_id)
        for pending in work.answers:
            if pending.update_id not in self._known:
                self._known[pending.update_id] = pending.reply_to
                self._deliver(pending.update_id, pending.reply_to, pending.answer,
                              pending.parts_sent)
        for open_message in work.messages:
            self._accept(open_message.message, open_message.acked)

    def _accept(self, message: IncomingMessage, acked: bool) -> None:
        if message.update_id in self._known:
            return
        self._known[message.update_id] = message.message_id
        if not acked:
            # Retried by the outbound actor until it is sent or the answer is out.
            self._say(React(self.chat_id, message.message_id, since=message.received_at),
                      tag=message.update_id)
        if message.text is None or not message.text.strip():
            self._reply(message, Answer(AnswerKind.REPLY, replies.CANNOT_READ))
            return
        if commands.parse(message.text) is Command.CANCEL:
            self._cancel(message)  # now, not in turn: it is about the turn already running
            return
        self._queue.append(message)

    def _cancel(self, message: IncomingMessage) -> None:
        if self._in_flight is None:
            self._reply(message, Answer(AnswerKind.REPLY, commands.NOTHING_TO_CANCEL))
            return
        # The cancelled turn's own reply says so; the /cancel itself needs no answer.
        self._reply(message, Answer(AnswerKind.NONE))
        self._tell_pool(TurnCancelRequested(self.chat_id, self._in_flight[0]))

    def _next_turn(self) -> None:
        if self.fenced or self._winding_down is not None:
            return  # replaced mid-handler, or stopping: the journal keeps what waits
        # /new applies in message order: what came before it still belongs to the old session.
        while self._in_flight is None and self._queue \
                and commands.parse(self._queue[0].text) is Command.NEW:
            new = self._queue.popleft()
            if self.fenced:
                return
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
        session = self._journal.session(self.chat_id)
        self._tell_pool(TurnRequested(self.chat_id, turn_id, message.update_id, message.text,
                                      session))

    def _is_current(self, turn_id: str) -> bool:
        return self._in_flight is not None and self._in_flight[0] == turn_id

    # --- the turn, as the brain pool reports it --------------------------------------

    def _on_turn(self, event: Any) -> None:
        turn_id = event.turn_id
        match event:
            case TurnQueued(position=position):
                self.status = f"queued #{position}"
                self._show(turn_id, status.queued(position))
            case TurnStarted(attempt=attempt):
                self.status = "thinking"
                self._running = turn_id
                self._draft = Draft(draft_id=next(self._turns)) if self._private else None
                self._say(Typing(self.chat_id))
                self.tell_later(TYPING_EVERY, TypingDue(turn_id))
                # A wait that ended before its message appeared needs no message now;
                # one that did says so in words that stay true (typing shows the work).
                if not self._status_board.visible(turn_id):
                    self._show(turn_id, None)
                elif attempt <= 1:
                    waited = self._status_board.age(turn_id, self.ctx.clock.monotonic())
                    self._show(turn_id, status.started(waited), settled=True)
                else:
                    self._show(turn_id, status.working(attempt))
            case TurnProgressed(event=progress):
                self._on_progress(turn_id, progress)
            case TurnRetryScheduled():
                self.status = f"retrying ({event.reason})"
                self._running = None
                self._show(turn_id, status.retry_scheduled(event))
            case TurnFinished():
                self._on_finished(event)
            case TurnAbandoned():
                self.status = "paused (the service is stopping)"
                self._running = None
                self._show(turn_id, status.PAUSED)

    def _on_progress(self, turn_id: str, event: Any) -> None:
        match event:
            case ApiRetry():
                text = status.api_retrying(event)
                self.status = text
                self._show(turn_id, text)
            case ToolUse(name=name, detail=detail):
                line = status.tool(name, detail)
                self.status = line
                if self._draft is not None:
                    self._draft.use_tool(line)
                    self._pump_progress()
                elif self._status_board.visible(turn_id) or not self._private:
                    self._show(turn_id, line)
            case TextDelta(text=text) if self._draft is not None:
                # Only streamed text is worth a draft: a whole message arrives just before
                # the answer itself, and a draft of it would only delay the answer.
                self._draft.add_text(text)
                self._pump_progress()

    def _on_finished(self, finished: TurnFinished) -> None:
        assert self._in_flight is not None
        _, message = self._in_flight
        self._in_flight = None
        self._running = None
        self._draft = None
        self._close_status(finished.turn_id, status.final(finished.answer))
        # The pool stored the answer before telling us: from here it is only delivery
        # (unless a journal reload already handed it over).
        if finished.update_id in self._known:
            self._deliver(finished.update_id, message.message_id, finished.answer)
        self._next_turn()

    def _reply(self, message: IncomingMessage, answer: Answer) -> None:
        """Wakeful's own answer: stored first like any other, then delivered."""
        if self.fenced:
            return  # the successor answers it from the journal
        self._journal.reply(message.update_id, answer)
        self._deliver(message.update_id, message.message_id, answer)

    def _deliver(self, update_id: int, reply_to: int, answer: Answer, start: int = 0) -> None:
        if self.fenced:
            return
        self.ctx.directory.tell(self._outbound, DeliveryRequested(
            self.chat_id, update_id, reply_to, replies.pieces(answer), start,
            requester=self.ctx.child_id))

    # --- progress: the status line and the live draft -------------------------------

    def _show(self, turn_id: str, text: str | None, settled: bool = False) -> None:
        self._status_board.want(turn_id, text, settled)
        self._pump_progress()

    def _close_status(self, turn_id: str, final_text: str, force: bool = False) -> None:
        creating = self._status_board.close(turn_id, final_text, force)
        if creating is not None and not self.fenced:
            # Its answer is on the way, in a faster lane: the line would come after it.
            self.ctx.directory.tell(self._outbound, CallWithdrawn(
                self.chat_id, self.ctx.child_id, _StatusTag(turn_id, creating.text)))
        self._pump_progress()

    def _pump_progress(self) -> None:
        now = self.ctx.clock.monotonic()
        call = self._status_board.next_call(now)
        wake = call if isinstance(call, float) else None
        if isinstance(call, Send):
            self._say(SendText(self.chat_id, render_plain(call.text)[0], lane=Lane.PROGRESS),
                      tag=_StatusTag(call.turn_id, call.text))
        elif isinstance(call, Edit):
            self._say(EditText(self.chat_id, call.message_id, render_plain(call.text)[0]),
                      tag=_StatusTag(call.turn_id, call.text))
        if self._draft is not None and self._winding_down is None:
            text = self._draft.due(now)
            if text:
                self._say(SendDraft(self.chat_id, self._draft.draft_id, render_plain(text)[0]))
            draft_wait = self._draft.wait(now)
            if draft_wait is not None:
                wake = now + draft_wait if wake is None else min(wake, now + draft_wait)
        if wake is not None and (self._status_due_at is None or wake < self._status_due_at):
            self._status_due_at = wake
            self.tell_later(wake - now, StatusDue())

    def _on_result(self, result: Delivered | DeliveryFailed) -> None:
        match result:
            case Delivered(call=React(), tag=int() as update_id):
                self._journal.mark_acked(update_id)
            case Delivered(tag=_StatusTag(turn_id=turn_id, text=text), message_id=message_id):
                known = result.call.message_id if isinstance(result.call, EditText) else None
                self._status_board.shown(turn_id, text, message_id or known, True,
                                         self.ctx.clock.monotonic())
            case DeliveryFailed(tag=_StatusTag(turn_id=turn_id, text=text), failure=failure):
                known = result.call.message_id if isinstance(result.call, EditText) else None
                ok = failure.kind is FailureKind.NOT_MODIFIED
                self._status_board.shown(turn_id, text, known, ok, self.ctx.clock.monotonic(),
                                         failure.retry_after)
            case DeliveryFailed(call=React(), failure=failure):
                log.info("chat %s: no 👀: %s", self.chat_id, failure.description)
            case _:
                pass  # typing and drafts: nothing to learn
        self._pump_progress()

    def _tell_pool(self, message: Any) -> None:
        # Checked at the last moment: an instance wedged in a journal call and replaced
        # meanwhile must not ask for (or cancel) a turn its successor now owns.
        if not self.fenced:
            self.ctx.directory.tell(self._pool, message)

    def _say(self, call: Any, tag: Any = None) -> None:
        if not self.fenced:
            self.ctx.directory.tell(self._outbound,
                                    CallRequested(call, self.ctx.child_id, tag))

    def _chat_gone(self) -> None:
        """Telegram takes nothing for this chat; the journal already records why."""
        self._queue.clear()
        self._known.clear()
        if self._in_flight is not None:
            # Its result will find the message failed in the journal and be dropped, so
            # no TurnFinished comes: the chat must not wait for one. A new message (the
            # user unblocked us) starts afresh.
            self._tell_pool(TurnCancelRequested(self.chat_id, self._in_flight[0]))
            self._in_flight = None
        self._running = None
        self._draft = None
        self._status_board = StatusBoard()  # nothing it shows can be changed any more
        self.status = "gone"

    # --- stopping: passivation and the service's clean stop --------------------------

    def _settle(self) -> None:
        """After every message: an idle chat schedules its own passivation check."""
        idle = (self._in_flight is None and not self._queue and not self._known
                and self._status_board.idle)
        if self._winding_down is not None:
            if self._status_board.idle:
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
        self._running = None
        self._draft = None
        if self._in_flight is not None:
            # Its turn was given back to the journal; the status must not say "working".
            self._close_status(self._in_flight[0], status.PAUSED, force=True)


def _preview(text: str | None) -> str:
    """One short line, whatever the user typed (100 KB of it, newlines, runs of spaces)."""
    raw = text or ""
    line = " ".join(raw[:4 * PREVIEW_CHARS].split())
    cut = len(line) > PREVIEW_CHARS or len(raw) > 4 * PREVIEW_CHARS
    return line[:PREVIEW_CHARS] + "…" if cut else line
