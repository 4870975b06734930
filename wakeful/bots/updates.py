"""Raw Telegram updates -> IncomingMessage, one at a time, so one bad update costs one update."""

from __future__ import annotations

from typing import Any

from wakeful.messages import IncomingMessage


class MalformedUpdate(ValueError):
    """The update cannot be understood; it is skipped (and counted), never retried forever."""


def update_id_of(raw: Any) -> int | None:
    if isinstance(raw, dict) and isinstance(raw.get("update_id"), int):
        return raw["update_id"]
    return None


def parse_update(raw: Any, received_at: float) -> IncomingMessage | None:
    """The message in `raw`, None for update kinds we don't handle, MalformedUpdate if broken."""
    update_id = update_id_of(raw)
    if update_id is None:
        raise MalformedUpdate("update without an integer update_id")
    message = raw.get("message")
    if message is None:
        return None  # edited messages, callbacks, ...: not ours (yet)
    if not isinstance(message, dict):
        raise MalformedUpdate(f"update {update_id}: message is not an object")
    chat = message.get("chat")
    message_id = message.get("message_id")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise MalformedUpdate(f"update {update_id}: message without chat.id")
    if not isinstance(message_id, int):
        raise MalformedUpdate(f"update {update_id}: message without message_id")
    sender = message.get("from")
    user_id = sender.get("id") if isinstance(sender, dict) else None
    text = message.get("text")
    return IncomingMessage(
        update_id=update_id,
        chat_id=chat["id"],
        message_id=message_id,
        user_id=user_id if isinstance(user_id, int) else None,
        text=text if isinstance(text, str) else None,
        received_at=received_at,
    )
