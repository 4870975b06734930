"""Raw Telegram updates -> IncomingMessage, one at a time, so one bad update costs one update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wakeful.messages import IncomingMessage


class MalformedUpdate(ValueError):
    """The update cannot be understood; it is skipped (and counted), never retried forever."""


@dataclass(frozen=True)
class Addressing:
    """What a message says about whom it is for; admission decides with it, nobody keeps it."""

    chat_type: str  # private, group, supergroup, channel
    sender_is_bot: bool = False
    mentions: frozenset[str] = frozenset()  # @usernames, lower case, without the @
    mentioned_ids: frozenset[int] = frozenset()  # text_mention entities (users without names)
    command_target: str | None = None  # "/cmd@Bot" -> "bot", "/cmd" -> "", no command -> None
    reply_to_user_id: int | None = None  # author of the message this one replies to


@dataclass(frozen=True)
class ParsedUpdate:
    message: IncomingMessage
    addressing: Addressing


def update_id_of(raw: Any) -> int | None:
    if isinstance(raw, dict) and isinstance(raw.get("update_id"), int):
        return raw["update_id"]
    return None


def parse_update(raw: Any, received_at: float) -> ParsedUpdate | None:
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
    incoming = IncomingMessage(
        update_id=update_id,
        chat_id=chat["id"],
        message_id=message_id,
        user_id=user_id if isinstance(user_id, int) else None,
        text=text if isinstance(text, str) else None,
        received_at=received_at,
    )
    return ParsedUpdate(incoming, _addressing(message, chat, sender, incoming.text))


def _addressing(message: dict[str, Any], chat: dict[str, Any], sender: Any,
                text: str | None) -> Addressing:
    mentions: set[str] = set()
    mentioned_ids: set[int] = set()
    entities = message.get("entities")
    for entity in entities if isinstance(entities, list) else ():
        if not isinstance(entity, dict):
            continue
        kind = entity.get("type")
        if kind == "mention" and text is not None:
            found = _utf16_slice(text, entity.get("offset"), entity.get("length"))
            if found and found.startswith("@"):
                mentions.add(found[1:].lower())
        elif kind == "text_mention" and isinstance(entity.get("user"), dict):
            user_id = entity["user"].get("id")
            if isinstance(user_id, int):
                mentioned_ids.add(user_id)
    command_target = None
    if text is not None and text.startswith("/") and len(text) > 1:
        head = text.split(maxsplit=1)[0][1:]
        command_target = head.split("@", 1)[1].lower() if "@" in head else ""
    reply_to = message.get("reply_to_message")
    reply_author = reply_to.get("from") if isinstance(reply_to, dict) else None
    reply_user = reply_author.get("id") if isinstance(reply_author, dict) else None
    chat_type = chat.get("type")
    return Addressing(
        chat_type=chat_type if isinstance(chat_type, str) else "private",
        sender_is_bot=bool(isinstance(sender, dict) and sender.get("is_bot")),
        mentions=frozenset(mentions),
        mentioned_ids=frozenset(mentioned_ids),
        command_target=command_target,
        reply_to_user_id=reply_user if isinstance(reply_user, int) else None,
    )


def _utf16_slice(text: str, offset: Any, length: Any) -> str | None:
    """Telegram's entity offsets count UTF-16 code units, not code points."""
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        return None
    units = text.encode("utf-16-le")
    return units[2 * offset:2 * (offset + length)].decode("utf-16-le", errors="ignore")
