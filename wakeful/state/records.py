"""What the journal stores besides the messages themselves: answers, and what a chat still owes.

Plain frozen dataclasses, so the journal's callers never see a row or a cursor.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass

from wakeful.messages import IncomingMessage


class MessageState(enum.StrEnum):
    """Where one accepted message is on its way to an answer (docs/durability.md)."""

    ACCEPTED = "accepted"  # committed with its getUpdates batch
    ACKNOWLEDGED = "acknowledged"  # Telegram took its 👀
    IN_TURN = "in_turn"  # a brain runs it; the row names the owner and the brain
    ANSWERED = "answered"  # an answer is stored (delivery is tracked in `answers`)
    FAILED = "failed"  # a clear failure note is stored instead, or the chat is gone
    CANCELLED = "cancelled"  # the user cancelled it

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = frozenset({MessageState.ACCEPTED, MessageState.ACKNOWLEDGED, MessageState.IN_TURN})


class AnswerKind(enum.StrEnum):
    ANSWER = "answer"  # the brain's text
    FAILED = "failed"  # why there is no answer, worded for the user
    CANCELLED = "cancelled"  # the user cancelled the turn
    REPLY = "reply"  # wakeful's own reply (a command, input it cannot read)
    NONE = "none"  # nothing to send (the /cancel that cancelled a turn)

    @property
    def final_state(self) -> MessageState:
        match self:
            case AnswerKind.FAILED:
                return MessageState.FAILED
            case AnswerKind.CANCELLED:
                return MessageState.CANCELLED
            case _:
                return MessageState.ANSWERED


@dataclass(frozen=True)
class Answer:
    """What a message gets back, stored before anything is sent (answers are data first)."""

    kind: AnswerKind
    text: str = ""
    context_lost: bool = False  # the old session was gone; this answer started a new one
    session_reset: bool = False  # the next message must start a new session

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Answer:
        data = json.loads(raw)
        data["kind"] = AnswerKind(data["kind"])
        return cls(**data)


@dataclass(frozen=True)
class PendingAnswer:
    """A stored answer Telegram has not (fully) taken yet."""

    update_id: int
    reply_to: int  # the user's message_id
    answer: Answer
    parts_sent: int  # parts Telegram already took; delivery resumes after them


@dataclass(frozen=True)
class OpenMessage:
    message: IncomingMessage
    acked: bool  # Telegram took its 👀


@dataclass(frozen=True)
class ChatWork:
    """Everything a chat actor must pick up when it starts, in the chat's original order."""

    chat_id: int
    answers: tuple[PendingAnswer, ...]
    messages: tuple[OpenMessage, ...]
    session_id: str | None
    carried_over: int  # open messages a previous run of the service left behind

    @property
    def empty(self) -> bool:
        return not self.answers and not self.messages


@dataclass(frozen=True)
class Accepted:
    """What one committed getUpdates batch means for the rest of the service."""

    new: tuple[IncomingMessage, ...]  # stored now for the first time, to route
    refuse: tuple[tuple[int, int], ...]  # (chat_id, user_id) strangers owed a refusal now


@dataclass(frozen=True)
class Claim:
    """The journal's answer to a brain pool that wants to run a message."""

    granted: bool
    answer: Answer | None = None  # set when the message was already answered


@dataclass(frozen=True)
class LeftoverBrain:
    """A brain a replaced (or dead) owner left running: kill its group before re-running."""

    update_id: int
    pid: int
    start_time: int | None
