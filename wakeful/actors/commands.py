"""Chat commands: the few messages wakeful answers itself instead of passing to the brain.

    /cancel   stop the turn that is running now (queued messages stay queued)
    /new      the next message starts a new Claude session (applied in message order)
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    CANCEL = "cancel"
    NEW = "new"


NOTHING_TO_CANCEL = "Nothing to cancel: I'm not working on anything right now."
NEW_SESSION = "🆕 New conversation: I won't remember what we talked about before."


def parse(text: str | None) -> Command | None:
    """The command a message is, if any ("/cancel", "/cancel@my_bot", "/new please")."""
    if not text or not text.startswith("/"):
        return None
    name = text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
    try:
        return Command(name)
    except ValueError:
        return None
