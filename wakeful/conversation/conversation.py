"""One chat's conversation: what to do with each message and each turn event. Pure.

The chat actor owns a `Conversation`, tells it what happened (a message arrived, the
turn started, a follow-up was taken, the turn finished) and applies the actions it
returns (wakeful/conversation/actions.py); no threads, no I/O, no clock. The actor
keeps what is about Telegram and the journal (acks, status line, drafts, delivery).

The rules, in the order a message meets them:
- unreadable (no text): a short reply;
- a command: answered now (/cancel, /status, /mode, /tools, /help, /start, unknown ones),
  except /new, which waits its turn in the queue: what came before it still belongs
  to the old session;
- a turn is running (TurnStarted seen, not finished), the mode is steer or interrupt
  and nothing waits before this message: it goes into that turn (FollowUp);
- otherwise it waits in the queue.
When no turn is in flight, the queue's head becomes the next turn: one message in
queue mode; in the other modes every message up to the next /new, merged into one
prompt (collect's point; in steer and interrupt it is what waited while the turn
was in line, or what the brain refused). Messages that waited while the turn was in
line go into it as follow-ups once it starts (steer, interrupt). A follow-up the
brain refuses, or that the finished turn does not list as answered, waits in the
queue again: no message is lost to a brain that cannot take follow-ups.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wakeful.actors.replies import CANNOT_READ
from wakeful.conversation import commands
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
from wakeful.conversation.commands import Command, Invocation
from wakeful.conversation.modes import Mode
from wakeful.conversation.modes import parse as parse_mode
from wakeful.messages import IncomingMessage
from wakeful.state.records import Answer, AnswerKind


@dataclass
class Turn:
    """The chat's one turn in flight, from the request to TurnFinished."""

    turn_id: str
    message: IncomingMessage  # the one it answers (the journal's row the pool claims)
    merged: tuple[IncomingMessage, ...] = ()
    started: bool = False  # a brain runs it now (TurnStarted, and no retry pending)
    # Follow-ups handed to it that the pool has not refused: answered by the turn only
    # if TurnFinished.also says so.
    follow_ups: dict[int, IncomingMessage] = field(default_factory=dict)
    cancel_all: bool = False  # /cancel all: its follow-ups are cancelled, not queued


class Conversation:
    def __init__(
        self,
        chat_id: int,
        mode: Mode,
        new_turn_id: Callable[[], str],
        ready: Callable[[IncomingMessage], bool] = lambda message: True,
        text_of: Callable[[IncomingMessage], str] = lambda message: message.text or "",
    ) -> None:
        """`ready`: the message may go to the brain (its files are in); `text_of`: what
        the brain reads for it (its text, and where its files are)."""
        self.chat_id = chat_id
        self.private = chat_id > 0  # Telegram's group ids are negative
        self.mode = mode
        self._new_turn_id = new_turn_id
        self._ready = ready
        self._text_of = text_of
        # What waits for a turn, in the chat's order (the actor edits a waiting message's
        # text in place when the user edits it).
        self.queue: deque[IncomingMessage] = deque()
        self.turn: Turn | None = None

    # --- what the actor reads --------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self.queue)

    def is_current(self, turn_id: str) -> bool:
        return self.turn is not None and self.turn.turn_id == turn_id

    # --- events ----------------------------------------------------------------------

    def receive(self, message: IncomingMessage) -> list[Action]:
        if not message.attachments and (message.text is None or not message.text.strip()):
            return [Reply(message, Answer(AnswerKind.REPLY, CANNOT_READ))]
        invocation = commands.parse(message.text)
        if invocation is not None:
            return self._command(message, invocation)
        turn = self.turn
        if turn is not None and turn.started and self.mode.follows_up and not self.queue \
                and self._ready(message):
            return [self._follow_up(turn, message, self.mode is Mode.INTERRUPT)]
        self.queue.append(message)
        return []

    def next_turn(self) -> list[Action]:
        """Start the next turn if none is in flight and something waits (the actor calls
        this after each event, unless it is stopping)."""
        out: list[Action] = []
        while self.turn is None and self.queue and \
                commands.is_command(self.queue[0].text, Command.NEW):
            out += [NewSession(), Reply(self.queue.popleft(),
                                        Answer(AnswerKind.REPLY, commands.NEW_SESSION))]
        if self.turn is not None or not self.queue or not self._ready(self.queue[0]):
            return out  # a message whose files are on their way holds up those after it
        first = self.queue.popleft()
        merged: list[IncomingMessage] = []
        if self.mode.merges:
            while self.queue and self._joins(self.queue[0]):
                merged.append(self.queue.popleft())
        self.turn = Turn(self._new_turn_id(), first, tuple(merged))
        prompt = "\n\n".join(self.prompt_of(m) for m in (first, *merged))
        out.append(StartTurn(self.turn.turn_id, first, prompt,
                             tuple(m.update_id for m in merged)))
        # A merged message gets no reply of its own: 👌 tells its sender it is in this turn.
        out += [MarkTaken(m) for m in merged]
        return out

    def turn_started(self, turn_id: str) -> list[Action]:
        turn = self._current(turn_id)
        if turn is None:
            return []
        turn.started = True
        out: list[Action] = []
        if self.mode.follows_up:
            # What waited while the turn was in line joins it now; nothing to interrupt yet.
            while self.queue and self._joins(self.queue[0]):
                out.append(self._follow_up(turn, self.queue.popleft(), interrupt=False))
        return out

    def turn_paused(self, turn_id: str) -> None:
        """The brain stopped (a retry is scheduled, or the service is stopping)."""
        turn = self._current(turn_id)
        if turn is not None:
            turn.started = False

    def follow_up_taken(self, turn_id: str, update_id: int) -> list[Action]:
        turn = self._current(turn_id)
        if turn is None or update_id not in turn.follow_ups:
            return []
        return [MarkTaken(turn.follow_ups[update_id])]

    def follow_up_refused(self, turn_id: str, update_id: int) -> list[Action]:
        turn = self._current(turn_id)
        message = turn.follow_ups.pop(update_id, None) if turn is not None else None
        if turn is None or message is None:
            return []  # the turn is over; TurnFinished already put it back in the queue
        if turn.cancel_all:
            return [_cancelled(message)]
        self._requeue(message)
        return []

    def turn_finished(self, turn_id: str, also: tuple[int, ...]) -> list[Action]:
        turn = self._current(turn_id)
        if turn is None:
            return []
        self.turn = None
        answered = set(also)
        out: list[Action] = []
        for message in turn.merged:
            if message.update_id not in answered:
                # A pool that does not store merged answers: the turn did answer it.
                out.append(Reply(message, Answer(AnswerKind.NONE)))
        for update_id, message in sorted(turn.follow_ups.items()):
            if update_id in answered:
                continue
            if turn.cancel_all:
                out.append(_cancelled(message))
            else:
                self._requeue(message)  # never reached the brain: it is still owed a turn
        forget = tuple(sorted(answered))
        if forget:
            out.append(Forget(forget))
        return out

    def drop_waiting(self) -> list[IncomingMessage]:
        """Take every waiting message that would go to the brain out of the queue (the
        chat answers them itself, e.g. past its budget); a /new stays."""
        dropped = [m for m in self.queue if commands.parse(m.text) is None]
        self.queue = deque(m for m in self.queue if commands.parse(m.text) is not None)
        return dropped

    def withdraw(self, update_id: int) -> IncomingMessage | None:
        """Take one waiting message out of the queue (the chat answers it itself, e.g.
        its file could not be fetched); None if it is not waiting."""
        found = next((m for m in self.queue if m.update_id == update_id), None)
        if found is not None:
            self.queue.remove(found)
        return found

    def gone(self) -> str | None:
        """Telegram takes nothing more for this chat: drop everything; returns the turn
        to cancel, if one is in flight."""
        self.queue.clear()
        turn, self.turn = self.turn, None
        return turn.turn_id if turn is not None else None

    def wind_down(self) -> None:
        """The service is stopping: what waits stays open in the journal for the next run."""
        self.queue.clear()

    # --- commands --------------------------------------------------------------------

    def _command(self, message: IncomingMessage, invocation: Invocation) -> list[Action]:
        match invocation.command:
            case Command.START:
                return [_reply(message, commands.start_text(message.user_id))]
            case Command.HELP:
                return [_reply(message, commands.help_text(self.mode))]
            case Command.STATUS:
                return [ShowStatus(message)]
            case Command.CANCEL:
                return self._cancel(message, invocation.args.lower() == "all")
            case Command.NEW:
                self.queue.append(message)  # in message order, see next_turn
                return []
            case Command.MODE:
                return self._set_mode(message, invocation.args)
            case Command.TOOLS:
                return [_tools(message, invocation.args)]
            case None:
                return [_reply(message, commands.unknown_text(invocation.name, self.mode))]

    def _cancel(self, message: IncomingMessage, everything: bool) -> list[Action]:
        out: list[Action] = []
        dropped = 0
        if everything:
            keep: deque[IncomingMessage] = deque()
            for waiting in self.queue:
                if commands.parse(waiting.text) is None:
                    out.append(_cancelled(waiting))
                    dropped += 1
                else:
                    keep.append(waiting)  # a /new is an order, not work to cancel
            self.queue = keep
        turn = self.turn
        if turn is not None:
            turn.cancel_all = turn.cancel_all or everything
            out.append(CancelTurn(turn.turn_id))
        if dropped:
            out.append(_reply(message, commands.cancelled_queued(dropped)))
        elif turn is not None:
            # The cancelled turn's own reply says so; the /cancel itself needs no answer.
            out.append(Reply(message, Answer(AnswerKind.NONE)))
        else:
            out.append(_reply(message, commands.NOTHING_TO_CANCEL))
        return out

    def _set_mode(self, message: IncomingMessage, args: str) -> list[Action]:
        if not args:
            return [_reply(message, commands.mode_text(self.mode))]
        mode = parse_mode(args)
        if mode is None:
            return [_reply(message, commands.mode_unknown(args))]
        self.mode = mode
        return [SaveMode(mode), _reply(message, commands.mode_set(mode))]

    # --- helpers ---------------------------------------------------------------------

    def _joins(self, message: IncomingMessage) -> bool:
        """It may join a turn with what is before it: not a command, its files are in."""
        return commands.parse(message.text) is None and self._ready(message)

    def prompt_of(self, message: IncomingMessage) -> str:
        """What the brain reads for a message: in groups, who wrote it."""
        text = self._text_of(message)
        if self.private:
            return text
        name = message.sender_name or "Someone"
        who = f"{name} (id {message.user_id})" if message.user_id is not None else name
        return f"{who}: {text}"

    def _follow_up(self, turn: Turn, message: IncomingMessage, interrupt: bool) -> FollowUp:
        turn.follow_ups[message.update_id] = message
        return FollowUp(turn.turn_id, message, self.prompt_of(message), interrupt)

    def _requeue(self, message: IncomingMessage) -> None:
        """Back into the queue in the chat's order (update_ids grow with time)."""
        ids = [m.update_id for m in self.queue]
        self.queue.insert(bisect.bisect(ids, message.update_id), message)

    def _current(self, turn_id: str) -> Turn | None:
        return self.turn if self.is_current(turn_id) else None


def _reply(message: IncomingMessage, text: str) -> Reply:
    return Reply(message, Answer(AnswerKind.REPLY, text))


def _tools(message: IncomingMessage, args: str) -> ShowTools | RevokeTools | Reply:
    """/tools; /tools revoke <tool>; /tools revoke all (tool names have no spaces)."""
    words = args.split()
    if not words:
        return ShowTools(message)
    if len(words) == 2 and words[0].lower() == "revoke":
        everything = words[1].lower() == commands.REVOKE_ALL
        return RevokeTools(message, None if everything else words[1])
    return _reply(message, commands.TOOLS_USAGE)


def _cancelled(message: IncomingMessage) -> Reply:
    return Reply(message, Answer(AnswerKind.CANCELLED, commands.CANCELLED_QUEUED))
