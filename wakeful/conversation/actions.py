"""What the conversation asks the chat actor to do: one frozen dataclass per effect."""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.conversation.modes import Mode
from wakeful.messages import IncomingMessage
from wakeful.state.records import Answer


@dataclass(frozen=True)
class Reply:
    """Store this answer to the message (wakeful's own words, or none), then deliver it."""

    message: IncomingMessage
    answer: Answer


@dataclass(frozen=True)
class StartTurn:
    """Ask the brain pool for a turn answering `message` (and the `also` ones merged in)."""

    turn_id: str
    message: IncomingMessage
    prompt: str
    also: tuple[int, ...] = ()


@dataclass(frozen=True)
class FollowUp:
    """Hand this message to the running turn (TurnFollowUp)."""

    turn_id: str
    message: IncomingMessage
    text: str
    interrupt: bool


@dataclass(frozen=True)
class CancelTurn:
    turn_id: str


@dataclass(frozen=True)
class MarkTaken:
    """The brain took this follow-up: show it on the message (a second reaction)."""

    message: IncomingMessage


@dataclass(frozen=True)
class SaveMode:
    mode: Mode


@dataclass(frozen=True)
class NewSession:
    """Forget the chat's Claude session: the next turn starts a new one."""


@dataclass(frozen=True)
class ShowStatus:
    """Answer this /status with what the chat is doing (the actor gathers the facts)."""

    message: IncomingMessage


@dataclass(frozen=True)
class ShowTools:
    """Answer this /tools with the chat's "always" grants (the journal holds them)."""

    message: IncomingMessage


@dataclass(frozen=True)
class RevokeTools:
    """Take back the chat's "always" grant of `tool` (as typed; None: every grant), and
    answer the message with what was revoked."""

    message: IncomingMessage
    tool: str | None


@dataclass(frozen=True)
class Forget:
    """These messages were answered by a turn: nothing more is owed for them."""

    update_ids: tuple[int, ...]


Action = Reply | StartTurn | FollowUp | CancelTurn | MarkTaken | SaveMode | NewSession | \
    ShowStatus | ShowTools | RevokeTools | Forget
