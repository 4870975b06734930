"""The Bot API calls wakeful makes, as data, each in the lane that decides when it goes.

Everything wakeful says to Telegram (all but getUpdates) is one of these, submitted to
the one outbound scheduler. The lane is the priority class: what the user needs first
goes first when calls are scarce (Telegram's limits, a storm of chats).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wakeful.delivery.render import Part

ACK_EMOJI = "👀"


class Lane(enum.IntEnum):
    """Priority classes, most urgent first."""

    ACK = 1  # 👀: "I heard you"
    ANSWER = 2  # final answers and wakeful's own replies
    # Status messages and their edits, live drafts; refusals of strangers (counted
    # messages that must never crowd out an owner's answer).
    PROGRESS = 3
    TYPING = 4  # "typing…", only worth sending while it is fresh


@dataclass(frozen=True)
class React:
    chat_id: int
    message_id: int
    emoji: str = ACK_EMOJI
    lane: Lane = Lane.ACK
    counts: bool = False  # not a message: outside Telegram's message limits
    # When the message it acknowledges reached the poller (monotonic): the outbound
    # actor measures the 👀 latency from it when Telegram takes the reaction.
    since: float | None = None


@dataclass(frozen=True)
class SendText:
    chat_id: int
    part: Part
    reply_to: int | None = None
    lane: Lane = Lane.ANSWER
    counts: bool = True


@dataclass(frozen=True)
class EditText:
    chat_id: int
    message_id: int
    part: Part
    lane: Lane = Lane.PROGRESS
    counts: bool = True  # Telegram counts edits like messages


@dataclass(frozen=True)
class SendDraft:
    """A live preview of the answer being written (private chats only)."""

    chat_id: int
    draft_id: int
    part: Part
    lane: Lane = Lane.PROGRESS
    counts: bool = True


@dataclass(frozen=True)
class Typing:
    chat_id: int
    lane: Lane = Lane.TYPING
    counts: bool = False


Call = React | SendText | EditText | SendDraft | Typing


def coalescing_key(call: Call) -> tuple[object, ...] | None:
    """Calls with the same key replace each other while waiting: only the newest matters."""
    match call:
        case EditText(chat_id=chat, message_id=message):
            return ("edit", chat, message)
        case SendDraft(chat_id=chat, draft_id=draft):
            return ("draft", chat, draft)
        case Typing(chat_id=chat):
            return ("typing", chat)
        case React(chat_id=chat, message_id=message):
            return ("react", chat, message)
        case _:
            return None
