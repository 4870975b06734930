"""ChatActor: one per chat with work. Its mailbox is the chat's order; it never waits on a brain.

On each message it asks for a 👀 at once and hands the message to the chat's
`Conversation` (wakeful/conversation/), which decides what becomes of it: a command
answered now, a turn, a follow-up into the running turn, or a wait in the queue; the
actor applies what it decides. While the turn runs it shows
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
from dataclasses import dataclass
from typing import Any

from wakeful.actors import attachments, replies, status
from wakeful.actors.approval_desk import (
    UNASKED_MESSAGE,
    ApprovalDesk,
    ApprovalSettings,
    ApprovalTag,
)
from wakeful.actors.attachments import Downloads, FileTag
from wakeful.actors.drafts import Draft
from wakeful.actors.file_desk import FileDesk, default_downloads
from wakeful.actors.status import Edit, Send, StatusBoard
from wakeful.bots.errors import FailureKind
from wakeful.brain.events import ApiRetry, TextDelta, ToolUse
from wakeful.conversation import budget, commands
from wakeful.conversation.actions import (
    Action,
    CancelTurn,
    FollowUp,
    Forget,
    MarkTaken,
    NewSession,
    Reply,
    RevokeTools,
    SaveMode,
    ShowStatus,
    ShowTools,
    StartTurn,
)
from wakeful.conversation.commands import StatusView
from wakeful.conversation.conversation import Conversation
from wakeful.conversation.modes import DEFAULT as DEFAULT_MODE
from wakeful.conversation.modes import parse as parse_mode
from wakeful.delivery.calls import EditText, Lane, React, SendDraft, SendText, Typing
from wakeful.delivery.render import render_plain
from wakeful.messages import (
    AnswerDelivered,
    ApprovalAnswered,
    ApprovalRequested,
    ApprovalTimedOut,
    ButtonPressed,
    CallRequested,
    CallWithdrawn,
    ChatGone,
    ChatIdle,
    Delivered,
    DeliveryFailed,
    DeliveryRequested,
    FollowUpRefused,
    FollowUpTaken,
    IdleCheckDue,
    IncomingMessage,
    MessageArrived,
    MessageEdited,
    StatusDue,
    TurnAbandoned,
    TurnCancelRequested,
    TurnFinished,
    TurnFollowUp,
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
# On a message the running turn took as a follow-up, in place of its 👀.
TAKEN_EMOJI = "👌"


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
        daily_budget_usd: float | None = None,
        files: Downloads | None = None,
        mode: str | None = None,
        approvals: ApprovalSettings | None = None,
    ) -> None:
        """`mode`: the queue mode of a chat that never chose one with /mode."""
        super().__init__(ctx)
        self.chat_id = chat_id
        self._files = FileDesk(files or default_downloads(chat_id, journal.path),
                               self._say, self._reply,
                               lambda update_id: self._conversation.withdraw(update_id))
        self._daily_budget = daily_budget_usd
        self._journal = journal
        self._pool = brain_pool
        self._chats = chats
        self._outbound = outbound
        self._idle_after = idle_after
        self._private = chat_id > 0  # Telegram's group ids are negative
        self._turns = itertools.count(1)
        self._default_mode = parse_mode(mode) or DEFAULT_MODE
        self._conversation = Conversation(chat_id, self._default_mode, self._new_turn_id,
                                          ready=self._files.ready, text_of=self._files.prompt)
        # update_id -> message_id of everything this instance still owes an answer or a
        # delivery; a message leaves only once its answer is out.
        self._known: dict[int, int] = {}
        self._running: str | None = None  # the turn whose brain runs now
        self._draft: Draft | None = None
        self._last_tool: str | None = None  # the running turn's, for /status
        self._status_board = StatusBoard()
        self._status_due_at: float | None = None
        self._idle_epoch = itertools.count(1)
        self._idle_since: int | None = None
        self._winding_down: Latch | None = None
        self._approvals = ApprovalDesk(chat_id, approvals or ApprovalSettings(), journal,
                                       self._say, self._tell_pool, self.tell_later,
                                       ctx.clock.wall)
        self.status: str = "idle"

    # --- lifecycle -------------------------------------------------------------------

    def started(self) -> None:
        self._conversation.mode = parse_mode(self._journal.chat_mode(self.chat_id)) \
            or self._default_mode
        self._load_work()
        self._next_turn()
        self._settle()

    def chat_of(self, message: Any) -> int | None:
        return self.chat_id  # whatever this actor does, it does for its chat

    def snapshot(self) -> dict[str, Any]:
        now = self.ctx.clock.monotonic()
        in_flight = self._conversation.turn
        turn = in_flight.turn_id if in_flight else None
        try:
            session = self._journal.session(self.chat_id)
            totals = self._journal.chat_totals(self.chat_id)
        except JournalError:  # a state request must never be what crashes a chat
            session, totals = None, {}
        return {
            "chat_id": self.chat_id,
            "status": self.status,
            "mode": self._conversation.mode.value,
            "queued": self._conversation.queued,
            "turn": turn,
            "owed": len(self._known),
            # Since the chat asked the pool for it (waiting in line included).
            "turn_age": round(self._status_board.age(turn, now), 1) if turn else None,
            "turn_preview": _preview(in_flight.message.text) if in_flight else None,
            # The head of the queue only: a long queue must not make a dump slow or huge.
            "previews": [_preview(m.text)
                         for m in itertools.islice(self._conversation.queue, PREVIEWS)],
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
            case ApprovalRequested():
                self._on_approval(message)
            case ButtonPressed():
                self._approvals.pressed(message)
            case ApprovalTimedOut():
                self._approvals.timed_out(message)
            case MessageEdited():
                self._on_edit(message)
            case FollowUpTaken(turn_id=turn_id, update_id=update_id):
                self._apply(self._conversation.follow_up_taken(turn_id, update_id))
            case FollowUpRefused(turn_id=turn_id, update_id=update_id):
                self._apply(self._conversation.follow_up_refused(turn_id, update_id))
                self._next_turn()
            case TurnQueued() | TurnStarted() | TurnProgressed() | TurnRetryScheduled() | \
                    TurnFinished() | TurnAbandoned():
                if self._conversation.is_current(message.turn_id):
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
        if self._files.admit(message):  # else answered: unsupported, or a file too big
            self._apply(self._conversation.receive(message))

    def _on_edit(self, edit: MessageEdited) -> None:
        edited = attachments.apply_edit(self._conversation.queue, edit)
        if edited is not None:
            self._journal.edit_text(edited.update_id, edited.text)
        elif self._journal.has_message(self.chat_id, edit.message_id):
            self._say(SendText(self.chat_id, render_plain(attachments.EDIT_TOO_LATE)[0],
                               reply_to=edit.message_id))

    def _next_turn(self) -> None:
        if self.fenced or self._winding_down is not None:
            return  # replaced mid-handler, or stopping: the journal keeps what waits
        if self._conversation.turn is None:
            self._refused_for_budget()
        self._apply(self._conversation.next_turn())
        if self._conversation.turn is None:
            self.status = "idle"

    def _new_turn_id(self) -> str:
        return f"{self.chat_id}/{self.ctx.generation}/{next(self._turns)}"

    def _apply(self, actions: list[Action]) -> None:
        """Do what the conversation decided, in its order."""
        for action in actions:
            if self.fenced:
                return  # a successor owns the chat now; the journal tells it the rest
            match action:
                case Reply(message=message, answer=answer):
                    self._reply(message, answer)
                case StartTurn():
                    self._start_turn(action)
                case FollowUp(turn_id=turn_id, message=message, text=text):
                    self._files.taken((message.update_id,))
                    self._tell_pool(TurnFollowUp(self.chat_id, turn_id, message.update_id,
                                                 text, action.interrupt))
                case CancelTurn(turn_id=turn_id):
                    self._tell_pool(TurnCancelRequested(self.chat_id, turn_id))
                case MarkTaken(message=message):
                    # Tagged like the 👀: Telegram taking it acknowledges the message too.
                    self._say(React(self.chat_id, message.message_id, TAKEN_EMOJI),
                              tag=message.update_id)
                case SaveMode(mode=mode):
                    self._journal.set_chat_mode(self.chat_id, mode.value)
                case NewSession():
                    self._journal.set_session(self.chat_id, None)
                case ShowStatus(message=message):
                    self._reply(message, Answer(AnswerKind.REPLY, self._status_text()))
                case ShowTools(message=message):
                    self._reply(message, Answer(AnswerKind.REPLY, self._approvals.grants_text()))
                case RevokeTools(message=message, tool=tool):
                    self._reply(message, Answer(AnswerKind.REPLY, self._approvals.revoke(tool)))
                case Forget(update_ids=update_ids):
                    for update_id in update_ids:  # answered by the turn; nothing to deliver
                        self._known.pop(update_id, None)

    def _start_turn(self, start: StartTurn) -> None:
        self.status = "requested"
        self._last_tool = None
        self._status_board.open(start.turn_id, self.ctx.clock.monotonic())
        self._files.taken((start.message.update_id, *start.also))
        session = self._journal.session(self.chat_id)
        self._tell_pool(TurnRequested(self.chat_id, start.turn_id, start.message.update_id,
                                      start.prompt, session, also=start.also))

    def _status_text(self) -> str:
        now = self.ctx.clock.monotonic()
        turn = self._conversation.turn
        return commands.status_text(StatusView(
            mode=self._conversation.mode,
            turn=self.status if turn is not None else None,
            turn_age=self._status_board.age(turn.turn_id, now) if turn is not None else None,
            last_tool=self._last_tool,
            queued=self._conversation.queued,
            session_id=self._journal.session(self.chat_id),
            cost_today=self._journal.spent_today(self.chat_id, self.ctx.clock.wall()),
        ))

    def _refused_for_budget(self) -> bool:
        """Past its daily budget the chat starts no turn: every message waiting for one
        is answered now with the spend and the reset time (stored like any answer, so
        nothing runs it later). True if any was."""
        if self._daily_budget is None:
            return False
        now = self.ctx.clock.wall()
        reached = budget.check(self._journal.spent_today(self.chat_id, now),
                               self._daily_budget, now)
        if reached is None:
            return False
        refused = self._conversation.drop_waiting()
        if not refused:
            return False
        for message in refused:
            self._reply(message, Answer(AnswerKind.REPLY, budget.text(reached)))
        return True

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
                self._apply(self._conversation.turn_started(turn_id))
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
                self._conversation.turn_paused(turn_id)
                self._show(turn_id, status.retry_scheduled(event))
            case TurnFinished():
                self._on_finished(event)
            case TurnAbandoned():
                self.status = "paused (the service is stopping)"
                self._running = None
                self._conversation.turn_paused(turn_id)
                self._show(turn_id, status.PAUSED)

    def _on_progress(self, turn_id: str, event: Any) -> None:
        match event:
            case ApiRetry():
                text = status.api_retrying(event)
                self.status = text
                self._show(turn_id, text)
            case ToolUse(name=name, detail=detail):
                line = status.tool(name, detail)
                self._last_tool = line
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
        turn = self._conversation.turn
        assert turn is not None
        message = turn.message
        self._apply(self._conversation.turn_finished(finished.turn_id, finished.also))
        self._approvals.turn_over(finished.turn_id)
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
        if isinstance(result.tag, ApprovalTag):
            self._approvals.on_result(result)
            return
        if isinstance(result.tag, FileTag):
            self._files.on_result(result)  # a failed one answers its message instead
            self._next_turn()
            return
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

    def _on_approval(self, request: ApprovalRequested) -> None:
        """The running turn's brain asks to run a tool: the desk answers the pool, at
        once (policy) or once someone presses a button (or nobody does in time)."""
        turn = self._conversation.turn
        if turn is None or turn.turn_id != request.turn_id:
            # A turn this instance does not run (a predecessor's): nobody here can ask.
            self._tell_pool(ApprovalAnswered(self.chat_id, request.turn_id,
                                             request.request_id, False, UNASKED_MESSAGE))
            return
        self._approvals.requested(request, turn.message.message_id)

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
        self._known.clear()
        self._files.clear()
        turn_id = self._conversation.gone()
        if turn_id is not None:
            # Its result will find the message failed in the journal and be dropped, so
            # no TurnFinished comes: the chat must not wait for one. A new message (the
            # user unblocked us) starts afresh.
            self._tell_pool(TurnCancelRequested(self.chat_id, turn_id))
        self._running = None
        self._draft = None
        self._status_board = StatusBoard()  # nothing it shows can be changed any more
        self.status = "gone"

    # --- stopping: passivation and the service's clean stop --------------------------

    def _settle(self) -> None:
        """After every message: an idle chat schedules its own passivation check."""
        idle = (self._conversation.turn is None and not self._conversation.queue
                and not self._known and self._status_board.idle)
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
        self._conversation.wind_down()  # still open in the journal: the next run takes them up
        self._running = None
        self._draft = None
        if self._conversation.turn is not None:
            # Its turn was given back to the journal; the status must not say "working".
            self._close_status(self._conversation.turn.turn_id, status.PAUSED, force=True)


def _preview(text: str | None) -> str:
    """One short line, whatever the user typed (100 KB of it, newlines, runs of spaces)."""
    raw = text or ""
    line = " ".join(raw[:4 * PREVIEW_CHARS].split())
    cut = len(line) > PREVIEW_CHARS or len(raw) > 4 * PREVIEW_CHARS
    return line[:PREVIEW_CHARS] + "…" if cut else line
