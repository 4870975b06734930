"""Queue modes: what a chat does with a message that arrives while its brain is busy.

Set per chat with /mode (kept in the journal); the default comes from [chats] mode.
docs/chat.md shows each one from the user's side.
"""

from __future__ import annotations

import enum


class Mode(enum.StrEnum):
    # The message goes into the running turn at once: Claude reads it between steps
    # and takes it into account ("also check the tests").
    STEER = "steer"
    # Held until the turn ends; then everything held becomes one next turn.
    COLLECT = "collect"
    # One turn per message, in order.
    QUEUE = "queue"
    # Like steer, but Claude first stops what it is doing and goes on with the new message.
    INTERRUPT = "interrupt"

    @property
    def follows_up(self) -> bool:
        """A message that arrives while a turn runs goes into that turn."""
        return self in (Mode.STEER, Mode.INTERRUPT)

    @property
    def merges(self) -> bool:
        """Messages waiting when a turn can start become one turn, not one each."""
        return self is not Mode.QUEUE


DEFAULT = Mode.STEER

DESCRIPTIONS: dict[Mode, str] = {
    Mode.STEER: "a message sent while I work goes straight into the running turn",
    Mode.COLLECT: "messages sent while I work wait, then become one next turn",
    Mode.QUEUE: "every message gets its own turn, one after another",
    Mode.INTERRUPT: "a message sent while I work stops what I am doing and I go on "
                    "with it",
}


def parse(word: str | None) -> Mode | None:
    """The mode a word names ("Steer", " queue "), None if it names none."""
    try:
        return Mode((word or "").strip().lower())
    except ValueError:
        return None
