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

# An inline keyboard: rows of (label, callback_data) buttons.
Keyboard = tuple[tuple[tuple[str, str], ...], ...]


class Lane(enum.IntEnum):
    """Priority classes, most urgent first."""

    ACK = 1  # 👀: "I heard you"; tool approvals and answers to button presses (a brain waits)
    ANSWER = 2  # final answers and wakeful's own replies
    # Status messages and their edits, live drafts; refusals of strangers (counted
    # messages that must never crowd out an owner's answer).
    PROGRESS = 3
    TYPING = 4  # "typing…", only worth sending while it is fresh
    # Downloads of files users sent: the slowest calls, and the only ones a stop does not
    # wait for (the journal still holds their message; the next run fetches again).
    FILES = 5


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
    keyboard: Keyboard = ()  # inline buttons under the message


@dataclass(frozen=True)
class EditText:
    chat_id: int
    message_id: int
    part: Part
    lane: Lane = Lane.PROGRESS
    counts: bool = True  # Telegram counts edits like messages
    keyboard: Keyboard = ()  # () removes the buttons the message had


@dataclass(frozen=True)
class AnswerCallback:
    """answerCallbackQuery: every button press must be answered (the client shows a
    spinner until it is), with a short notice or none."""

    chat_id: int  # where the button was pressed (the scheduler orders calls per chat)
    query_id: str
    text: str | None = None
    lane: Lane = Lane.ACK
    counts: bool = False  # not a message


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


@dataclass(frozen=True)
class FetchFile:
    """getFile, then download the file into `directory` as (a safe form of) `name`.

    Done at the edge (the gateway): the chat actor only learns where it landed
    (`Delivered.saved`) or why not (`DeliveryFailed`). Not a message: outside the limits.
    """

    chat_id: int
    file_id: str
    directory: str
    name: str
    max_bytes: int
    lane: Lane = Lane.FILES
    counts: bool = False


@dataclass(frozen=True)
class SavedFile:
    """Where a FetchFile put the file, and how big it is."""

    path: str  # absolute
    size: int


Call = React | SendText | EditText | SendDraft | Typing | FetchFile | AnswerCallback


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
