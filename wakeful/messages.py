"""Every message that crosses an actor mailbox, as a frozen dataclass named for what happened.

Actors only learn about each other through these. Reading this file top to bottom
is reading the system's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.brain.events import BrainEvent
from wakeful.supervision.latch import Latch

if TYPE_CHECKING:
    from wakeful.actors.replies import Piece
    from wakeful.delivery.calls import Call, SavedFile
    from wakeful.state.records import Answer

# --- what the outside world sends in -------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message (a photo at its largest size, or a document)."""

    kind: str  # "photo" | "document"
    file_id: str  # what getFile takes; valid for this bot only
    file_unique_id: str  # stable across bots and time: names the saved file
    name: str | None = None  # the sender's file name (documents)
    size: int | None = None  # bytes, as Telegram declares it
    mime: str | None = None


@dataclass(frozen=True)
class IncomingMessage:
    """One user message as wakeful keeps it (also the future journal's row)."""

    update_id: int
    chat_id: int
    message_id: int
    user_id: int | None
    text: str | None  # the text, or a photo's or document's caption
    received_at: float  # monotonic, for ack latency
    attachments: tuple[Attachment, ...] = ()
    # What it carries that wakeful cannot read ("voice", "sticker", ...): answered, never run.
    unsupported: str | None = None
    # Who wrote it, as Telegram names them (first name, else @username): groups' prompts
    # say who is talking.
    sender_name: str | None = None


@dataclass(frozen=True)
class MessageEdited:
    """Poller -> chats supervisor -> chat actor: an admitted user edited a message."""

    chat_id: int
    message_id: int
    text: str | None  # the new text (or caption)
    update_id: int  # the edit's own update


# --- liveness ------------------------------------------------------------------------


@dataclass(frozen=True)
class PingSent:
    """Watchdog -> actor: answer with a heartbeat when this reaches the head of your mailbox."""

    seq: int


@dataclass(frozen=True)
class HeartbeatBeat:
    """Actor -> watchdog: I processed a ping (or finished a poll) at `at`."""

    child_id: str
    generation: int
    at: float
    seq: int | None = None


@dataclass(frozen=True)
class PingDue:
    """Timer -> watchdog: time to ping every watched actor."""

    # Monotonic time it was due: how late the watchdog reads it is the watchdog's own lag.
    due_at: float | None = None


# --- supervision ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChildFailed:
    """Actor -> its supervisor: I died with this error (in a handler, in start, in stop)."""

    child_id: str
    generation: int
    error: str
    exception: BaseException | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ChildExited:
    """Actor -> its supervisor: I stopped without an error."""

    child_id: str
    generation: int


@dataclass(frozen=True)
class ChildStale:
    """Watchdog -> supervisor: this actor's last heartbeat is older than its threshold."""

    child_id: str
    generation: int
    silent_for: float


@dataclass(frozen=True)
class RestartDue:
    """Timer -> supervisor: a backoff delay for this child ran out."""

    child_id: str


@dataclass(frozen=True)
class AbandonedLimitExceeded:
    """Supervisor -> root: wedged threads left behind now exceed the process-wide limit."""

    alive: int
    limit: int
    last: str  # the child whose replacement crossed the limit


@dataclass(frozen=True)
class AbandonedRecheckDue:
    """Root -> itself: the grace given to abandoned threads is over; count them again."""


@dataclass(frozen=True)
class StateRequested:
    """Anyone -> actor (ask): reply with a JSON-able snapshot of yourself."""


# --- polling -------------------------------------------------------------------------


@dataclass(frozen=True)
class PollDue:
    """Poller -> itself: start the next getUpdates."""


@dataclass(frozen=True)
class UpdatesFetched:
    """Gateway callback -> poller: a getUpdates call returned these raw updates."""

    poll_id: int
    updates: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PollFailed:
    """Gateway callback -> poller: a getUpdates call failed."""

    poll_id: int
    kind: FailureKind
    error: str
    retry_after: float | None = None


@dataclass(frozen=True)
class MessageArrived:
    """Poller -> chats supervisor -> chat actor: a message was admitted and committed."""

    message: IncomingMessage


@dataclass(frozen=True)
class WorkWaiting:
    """Poller -> chats supervisor -> chat actor: the journal holds work for this chat.

    Sent by a (re)started poller for every chat with open work, because a predecessor
    may have committed a batch and died before routing it.
    """

    chat_id: int


@dataclass(frozen=True)
class PollingStopRequested:
    """Service -> poller (ask): the service is stopping; fetch nothing more."""


# --- passivation ---------------------------------------------------------------------


@dataclass(frozen=True)
class IdleCheckDue:
    """Timer -> chat: has this chat had nothing to do since `epoch`?"""

    epoch: int


@dataclass(frozen=True)
class ChatIdle:
    """Chat -> chats supervisor: I have had nothing to do for `idle_after`; stop me."""

    chat_id: int
    generation: int


# --- stopping cleanly ----------------------------------------------------------------


@dataclass(frozen=True)
class DrainRequested:
    """Service -> brain pool: start no turn; let running ones finish within `grace`,
    then end the rest and give their messages back to the journal to run again."""

    grace: float
    latch: Latch = field(compare=False)


@dataclass(frozen=True)
class DrainDeadlinePassed:
    """Timer -> brain pool: the shutdown grace is over."""


@dataclass(frozen=True)
class WindDownRequested:
    """Service -> chats supervisor -> chat actors: deliver what you hold, leave every
    status message saying something true, then check yourself off the latch."""

    latch: Latch = field(compare=False)


# --- turns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnRequested:
    """Chat -> brain pool: run this prompt; answer `chat_id` by address, never by ref."""

    chat_id: int
    turn_id: str
    update_id: int  # the message this turn answers (the journal's row; one owner at a time)
    prompt: str
    session_id: str | None = None
    # update_ids merged into this turn's prompt (collect mode): answered with it
    also: tuple[int, ...] = ()


@dataclass(frozen=True)
class TurnQueued:
    """Brain pool -> chat: every slot is busy; you are at `position` in the queue."""

    chat_id: int
    turn_id: str
    position: int


@dataclass(frozen=True)
class TurnStarted:
    """Brain pool -> chat: a brain process is running this turn (attempt 2+ after a retry)."""

    chat_id: int
    turn_id: str
    attempt: int = 1


@dataclass(frozen=True)
class TurnProgressed:
    """Brain pool -> chat: the brain emitted an event (e.g. an API retry) mid-turn."""

    chat_id: int
    turn_id: str
    event: BrainEvent


@dataclass(frozen=True)
class TurnFinished:
    """Brain pool -> chat: the turn is over and its answer is stored in the journal."""

    chat_id: int
    turn_id: str
    update_id: int
    answer: Answer
    cost_usd: float | None = None
    duration_s: float | None = None
    attempts: int = 1
    api_retries: int = 0  # the CLI's own api_retry events, over all attempts
    # every update_id this turn answered besides its own (merged ones, taken follow-ups);
    # the journal already holds AnswerKind.NONE for each
    also: tuple[int, ...] = ()


@dataclass(frozen=True)
class TurnRetryScheduled:
    """Brain pool -> chat: an attempt failed in a way worth retrying; the next starts later."""

    chat_id: int
    turn_id: str
    attempt: int  # the attempt that will run next
    max_attempts: int
    delay: float
    reason: str


@dataclass(frozen=True)
class TurnCancelRequested:
    """Chat -> brain pool: the user sent /cancel; stop this turn wherever it is."""

    chat_id: int
    turn_id: str


@dataclass(frozen=True)
class TurnFollowUp:
    """Chat -> brain pool: put this message into the running turn's session now
    (interrupt: first end what the turn is doing, then the session goes on with it)."""

    chat_id: int
    turn_id: str
    update_id: int
    text: str
    interrupt: bool = False


@dataclass(frozen=True)
class FollowUpTaken:
    """Brain pool -> chat: the brain took this follow-up into the running turn; the
    turn's answer answers it too (it comes in TurnFinished.also)."""

    chat_id: int
    turn_id: str
    update_id: int


@dataclass(frozen=True)
class FollowUpRefused:
    """Brain pool -> chat: no running brain process for that turn (waiting, backing off,
    finished, or a runner that cannot): queue the message as an ordinary next one."""

    chat_id: int
    turn_id: str
    update_id: int


@dataclass(frozen=True)
class ApprovalRequested:
    """Brain pool -> chat: the running turn's brain asks whether it may run this tool
    (a `can_use_tool` request); the chat answers with ApprovalAnswered, whatever happens."""

    chat_id: int
    turn_id: str
    request_id: str
    tool: str
    tool_input: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ApprovalAnswered:
    """Chat -> brain pool: the answer to ApprovalRequested (`message`: what the model
    reads when the tool is denied)."""

    chat_id: int
    turn_id: str
    request_id: str
    allow: bool
    message: str = ""


@dataclass(frozen=True)
class ButtonPressed:
    """Poller -> chats supervisor -> chat actor: an admitted user pressed an inline
    button of a bot message (a callback_query); the chat must answer `query_id`."""

    chat_id: int
    message_id: int
    user_id: int
    query_id: str
    data: str
    user_name: str | None = None


@dataclass(frozen=True)
class ApprovalTimedOut:
    """Timer -> chat: nobody answered this approval within `approval_timeout`."""

    approval_id: str


@dataclass(frozen=True)
class TurnAbandoned:
    """Brain pool -> chat: this turn will not finish in this run (the service is
    stopping); its message stays open in the journal and runs again after the restart."""

    chat_id: int
    turn_id: str


# --- brain pool internals ------------------------------------------------------------


@dataclass(frozen=True)
class BrainOutput:
    """Turn reader thread -> brain pool: one item from a child process's pipe."""

    turn_id: str
    item: Any


@dataclass(frozen=True)
class BrainProcessEnded:
    """Turn reader thread -> brain pool: the child process is gone and reaped."""

    turn_id: str
    exitcode: int | None


@dataclass(frozen=True)
class RunnerChanged:
    """Turn runner thread -> brain pool: nodes came or went, or the cluster came back:
    the waiting line may move now."""


@dataclass(frozen=True)
class TurnRetryDue:
    """Timer -> brain pool: a turn's backoff is over; queue its next attempt."""

    turn_id: str


@dataclass(frozen=True)
class PositionsDue:
    """Timer -> brain pool: time to tell waiting chats how far they moved up the line."""


@dataclass(frozen=True)
class TurnDeadlinePassed:
    """Timer -> brain pool: a turn outlived its wall-clock budget (plus grace)."""

    turn_id: str


# --- chat internals ------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionDue:
    """Timer -> retention: time to delete what the journal no longer needs."""


@dataclass(frozen=True)
class TypingDue:
    """Timer -> chat: Telegram's typing indicator lasts ~5 s; renew it while a turn runs."""

    turn_id: str


@dataclass(frozen=True)
class StatusDue:
    """Timer -> chat: the status message may change now (edits are spaced out)."""


# --- the way out: everything wakeful says to Telegram goes through the outbound actor ---


@dataclass(frozen=True)
class CallRequested:
    """Anyone -> outbound: make this call; tell `requester` (a name) how it went."""

    call: Call
    requester: str | None = None
    tag: Any = None  # handed back with the outcome, so the requester knows what it was


@dataclass(frozen=True)
class CallWithdrawn:
    """Requester -> outbound: a call of its still waiting is no longer wanted (it is
    answered with `DeliveryFailed`, superseded); one already sent is left to finish."""

    chat_id: int
    requester: str
    tag: Any


@dataclass(frozen=True)
class Delivered:
    """Outbound -> requester: Telegram took the call (`message_id` for a new message,
    `saved` for a file fetched into the chat's directory)."""

    call: Call
    message_id: int | None = None
    tag: Any = None
    saved: SavedFile | None = None


@dataclass(frozen=True)
class DeliveryFailed:
    """Outbound -> requester: the call will not be made (any more), and why."""

    call: Call
    failure: TelegramFailure
    tag: Any = None


@dataclass(frozen=True)
class DeliveryRequested:
    """Chat -> outbound: deliver this stored answer, from part `start` on, in order."""

    chat_id: int
    update_id: int
    reply_to: int
    pieces: tuple[Piece, ...]
    start: int = 0
    requester: str | None = None


@dataclass(frozen=True)
class AnswerDelivered:
    """Outbound -> chat: every part of this answer is with Telegram (and in the journal)."""

    chat_id: int
    update_id: int


@dataclass(frozen=True)
class ChatGone:
    """Outbound -> chat: Telegram will take nothing for this chat (blocked, kicked)."""

    chat_id: int
    reason: str


@dataclass(frozen=True)
class CallCompleted:
    """Gateway callback -> outbound: a call came back (`failure` None: it worked)."""

    ticket_id: int
    message_id: int | None = None
    failure: TelegramFailure | None = None
    saved: SavedFile | None = None


@dataclass(frozen=True)
class OutboundDue:
    """Timer -> outbound: a limit window opens, or a retry's wait is over."""


@dataclass(frozen=True)
class FlushRequested:
    """Service -> outbound: deliver what is waiting (typing aside) while the service
    stops; check yourself off the latch when nothing is left."""

    latch: Latch = field(compare=False)
