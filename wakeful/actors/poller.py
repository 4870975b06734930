"""Poller: long-polls getUpdates, admits at the door, commits, then routes.

The poll itself runs on the gateway loop; this actor only starts it and reacts to
its completion, so its mailbox stays responsive (pings, state dumps) for the whole
long poll. For each batch it parses every update, applies admission (strangers
never become work), and commits the admitted messages together with the next
offset in one journal transaction; only then does it route them and ask Telegram
for that offset. Telegram therefore never forgets an update the journal does not
hold. A (re)started poller first nudges every chat the journal says has open work,
since a predecessor may have committed a batch and died before routing it.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from wakeful.bots.errors import FailureKind, classify
from wakeful.bots.gateway import TelegramGateway
from wakeful.bots.updates import (
    MalformedUpdate,
    ParsedPress,
    parse_callback_query,
    parse_update,
    update_id_of,
)
from wakeful.conversation import approvals
from wakeful.delivery.calls import AnswerCallback, Lane, SendText
from wakeful.delivery.render import render_plain
from wakeful.ingest.admission import (
    AccessPolicy,
    BotIdentity,
    Verdict,
    admit,
    may_press,
    refusal_text,
)
from wakeful.ingest.flood import FloodGate, FloodLimit, flood_text
from wakeful.messages import (
    CallRequested,
    IncomingMessage,
    MessageArrived,
    MessageEdited,
    PollDue,
    PollFailed,
    PollingStopRequested,
    UpdatesFetched,
    WorkWaiting,
)
from wakeful.retry import backoff
from wakeful.state.journal import Journal
from wakeful.supervision.context import ChildContext
from wakeful.supervision.supervised import SupervisedActor, tell_quietly

log = logging.getLogger(__name__)

CONFLICT_PAUSE = 5.0


class Poller(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext,
        gateway: TelegramGateway,
        journal: Journal,
        policy: AccessPolicy,
        bot: BotIdentity,
        refusal_every: float = 600.0,
        chats: str = "chats",
        outbound: str = "outbound",
        flood: FloodLimit | None = None,
    ) -> None:
        super().__init__(ctx)
        self._flood = FloodGate(flood or FloodLimit())
        self._gateway = gateway
        self._journal = journal
        self._policy = policy
        self._bot = bot
        self._refusal_every = refusal_every
        self._chats = chats
        self._outbound = outbound
        self._poll_id = 0
        self._poll: Any = None  # the gateway future of the poll in flight
        self._stopped = False
        self._failures = 0
        self._wait = backoff(initial=0.5, maximum=30.0)
        # For liveness (ops/liveness.py): when getUpdates last answered, when the current
        # failure streak began, and what the last failure was.
        self._started_at = ctx.clock.monotonic()
        self._last_ok_at: float | None = None
        self._last_ended_at: float | None = None  # an answer or a failure
        self._failing_since: float | None = None
        self._last_failure_kind: FailureKind | None = None
        self.polls = 0
        self.updates = 0
        self.admitted = 0
        self.refused = 0
        self.flooded = 0
        self.ignored = 0
        self.malformed = 0
        self.last_error: str | None = None
        self.poll_failures: Counter[str] = Counter()  # by FailureKind value

    def started(self) -> None:
        for chat_id in self._journal.chats_with_open_work():
            self.ctx.directory.tell(self._chats, WorkWaiting(chat_id))
        self.actor_ref.tell(PollDue())

    def stopping(self) -> None:
        # A replaced or stopped poller must not keep holding Telegram's only getUpdates
        # connection: its successor's poll would be answered 409 until this one ends.
        if self._poll is not None:
            self._poll.cancel()

    def handle(self, message: Any) -> Any:
        match message:
            case PollDue():
                self._start_poll()
            case UpdatesFetched(poll_id=poll_id) if poll_id == self._poll_id:
                self._on_updates(message.updates)
            case PollFailed(poll_id=poll_id) if poll_id == self._poll_id:
                self._on_failure(message)
            case UpdatesFetched() | PollFailed():
                pass  # answer to a poll we no longer wait for
            case PollingStopRequested():
                self._stopped = True
                if self._poll is not None:
                    self._poll.cancel()
                return self.polls
            case _:
                return super().handle(message)
        return None

    def snapshot(self) -> dict[str, Any]:
        now = self.ctx.clock.monotonic()
        return {
            "polls": self.polls,
            "updates": self.updates,
            "admitted": self.admitted,
            "refused": self.refused,
            "flooded": self.flooded,
            "ignored": self.ignored,
            "malformed_updates": self.malformed,
            "offset": self._journal.offset,
            "poll_in_flight": self._poll is not None,
            "stopped": self._stopped,
            "consecutive_failures": self._failures,
            "poll_failures": dict(self.poll_failures),
            "last_error": self.last_error,
            "last_failure_kind": None if self._last_failure_kind is None
            else self._last_failure_kind.value,
            "failing_for": _age(now, self._failing_since),
            "last_poll_ok_age": _age(now, self._last_ok_at),
            "last_poll_ended_age": _age(now, self._last_ended_at),
            "age": _age(now, self._started_at),
        }

    def _start_poll(self) -> None:
        if self._poll is not None or self.fenced or self._stopped:
            return
        self._poll_id += 1
        poll_id, me = self._poll_id, self.actor_ref
        self._poll = future = self._gateway.get_updates(self._journal.offset)

        def done(f: Any) -> None:
            """Executed on the gateway's event-loop thread."""
            if f.cancelled():
                return  # we stopped it; whatever it fetched Telegram sends again
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
        self._poll = None
        self._failures = 0
        self._failing_since = None
        self.polls += 1
        now = self._last_ok_at = self._last_ended_at = self.ctx.clock.monotonic()
        next_offset: int | None = None
        admitted: list[IncomingMessage] = []
        edits: list[MessageEdited] = []  # not stored: the chat applies them to what it holds
        strangers: dict[tuple[int, int], int | None] = {}
        presses: list[ParsedPress] = []  # not stored either: a press answers a live turn
        for raw in raw_updates:
            update_id = update_id_of(raw)
            if update_id is not None:
                next_offset = max(next_offset or 0, update_id + 1)
            try:
                pressed = parse_callback_query(raw)
                parsed = parse_update(raw, now) if pressed is None else None
            except MalformedUpdate as exc:
                self.malformed += 1
                log.warning("skipping malformed update: %s", exc)
                continue
            if pressed is not None:
                presses.append(pressed)
                continue
            if parsed is None:
                continue
            self.updates += 1
            match admit(parsed.message, parsed.addressing, self._policy, self._bot):
                case Verdict.ADMIT if parsed.edited:
                    edits.append(MessageEdited(parsed.message.chat_id, parsed.message.message_id,
                                               parsed.message.text, parsed.message.update_id))
                case Verdict.ADMIT if self._let_in(parsed.message, now):
                    admitted.append(parsed.message)
                case Verdict.ADMIT:
                    pass  # too many too fast: refused at the door (see _let_in)
                case Verdict.REFUSE:
                    self.refused += 1
                    key = (parsed.message.chat_id, parsed.message.user_id or 0)
                    strangers[key] = parsed.message.user_id
                case Verdict.IGNORE:
                    self.ignored += 1
        if self.fenced:
            return  # replaced while wedged mid-batch: the successor fetches it again
        # The commit is the point of no return: after it, Telegram may forget the batch.
        accepted = self._journal.accept_batch(admitted, next_offset, list(strangers),
                                              self._refusal_every)
        self.admitted += len(accepted.new)
        for message in accepted.new:
            self.ctx.directory.tell(self._chats, MessageArrived(message))
        for edit in edits:
            self.ctx.directory.tell(self._chats, edit)
        for press in presses:
            self._on_press(press)
        for chat_id, user_key in accepted.refuse:
            self._refuse(chat_id, strangers[(chat_id, user_key)])
        self.beat()
        self.actor_ref.tell(PollDue())

    def _let_in(self, message: IncomingMessage, now: float) -> bool:
        """The flood limit: False refuses the message; it is never stored, so nothing
        replays it, and the first refusal of a burst tells the user when to write again."""
        flooded = self._flood.check(
            message.user_id if message.user_id is not None else message.chat_id, now)
        if flooded is None:
            return True
        self.flooded += 1
        if flooded.tell and not self.fenced:
            log.info("flood limit: refusing messages from user %s in chat %s for %.0f s",
                     message.user_id, message.chat_id, flooded.wait)
            self.ctx.directory.tell(self._outbound, CallRequested(SendText(
                message.chat_id, render_plain(flood_text(flooded.wait))[0],
                reply_to=message.message_id, lane=Lane.PROGRESS)))
        return False

    def _on_press(self, pressed: ParsedPress) -> None:
        """A button press: the chat it belongs to decides, if the presser may; every
        other press is answered here (Telegram's client spins until it is)."""
        press = pressed.press
        chat_id = press.chat_id if press is not None else pressed.user_id
        if not may_press(press.chat_id if press is not None else None, pressed.user_id,
                         self._policy):
            log.info("refused a button press by user %s in chat %s (not on the allowlist)",
                     pressed.user_id, chat_id)
            text: str | None = approvals.STRANGER_TEXT
        elif press is None or approvals.parse_callback(press.data) is None:
            text = approvals.MALFORMED_TEXT
        else:
            self.ctx.directory.tell(self._chats, press)
            return
        self.ctx.directory.tell(self._outbound, CallRequested(
            AnswerCallback(chat_id, pressed.query_id, text)))

    def _refuse(self, chat_id: int, user_id: int | None) -> None:
        log.info("refused a message from user %s in chat %s (not on the allowlist)",
                 user_id, chat_id)
        # Below answers, not beside the 👀: a refusal is a counted message, and a flood of
        # strangers must never use up the bot's 30 a second before the owners' answers.
        refusal = SendText(chat_id, render_plain(refusal_text(user_id))[0],
                           lane=Lane.PROGRESS)
        self.ctx.directory.tell(self._outbound, CallRequested(refusal))

    def _on_failure(self, failure: PollFailed) -> None:
        self._poll = None
        self._failures += 1
        self._last_ended_at = self.ctx.clock.monotonic()
        if self._failures == 1:
            self._failing_since = self._last_ended_at
        self._last_failure_kind = failure.kind
        self.poll_failures[failure.kind.value] += 1
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


def _age(now: float, since: float | None) -> float | None:
    return None if since is None else round(now - since, 3)
