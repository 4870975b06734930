"""Raw Telegram updates -> IncomingMessage, one at a time, so one bad update costs one update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wakeful.messages import Attachment, ButtonPressed, IncomingMessage

# What a message can carry that wakeful does not read, in the order they are looked
# for (a venue also has a location, a GIF also a document).
UNSUPPORTED_KINDS = ("voice", "video_note", "video", "audio", "animation", "sticker", "venue",
                     "location", "contact", "poll", "dice", "game", "story", "paid_media",
                     "checklist", "invoice")


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
    # An edited_message: `message` carries the new text; the chat decides what it changes.
    edited: bool = False


def update_id_of(raw: Any) -> int | None:
    if isinstance(raw, dict) and isinstance(raw.get("update_id"), int):
        return raw["update_id"]
    return None


@dataclass(frozen=True)
class ParsedPress:
    """A callback_query: someone pressed an inline button. `press` is None when it
    cannot be routed to a chat (no message, no data): it is still answered."""

    query_id: str
    user_id: int
    chat_type: str
    press: ButtonPressed | None


def parse_callback_query(raw: Any) -> ParsedPress | None:
    """The callback_query in `raw`, None if it is another kind, MalformedUpdate if it
    cannot even be answered (no id, no sender)."""
    update_id = update_id_of(raw)
    if update_id is None:
        raise MalformedUpdate("update without an integer update_id")
    query = raw.get("callback_query")
    if query is None:
        return None
    if not isinstance(query, dict):
        raise MalformedUpdate(f"update {update_id}: callback_query is not an object")
    query_id, sender = query.get("id"), query.get("from")
    if not isinstance(query_id, str) or not query_id:
        raise MalformedUpdate(f"update {update_id}: callback_query without an id")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), int):
        raise MalformedUpdate(f"update {update_id}: callback_query without from.id")
    message, data = query.get("message"), query.get("data")
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    message_id = message.get("message_id") if isinstance(message, dict) else None
    chat_type = chat.get("type") if isinstance(chat, dict) else None
    press = None
    if isinstance(chat_id, int) and isinstance(message_id, int) and isinstance(data, str):
        press = ButtonPressed(chat_id, message_id, sender["id"], query_id, data,
                              _sender_name(sender))
    return ParsedPress(query_id, sender["id"],
                       chat_type if isinstance(chat_type, str) else "private", press)


def parse_update(raw: Any, received_at: float) -> ParsedUpdate | None:
    """The message in `raw`, None for update kinds we don't handle, MalformedUpdate if broken."""
    update_id = update_id_of(raw)
    if update_id is None:
        raise MalformedUpdate("update without an integer update_id")
    edited = raw.get("message") is None and raw.get("edited_message") is not None
    message = raw.get("edited_message") if edited else raw.get("message")
    if message is None:
        return None  # callbacks, channel posts, ...: not ours
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
    caption = message.get("caption")
    if not isinstance(text, str):
        text = caption if isinstance(caption, str) else None
    incoming = IncomingMessage(
        update_id=update_id,
        chat_id=chat["id"],
        message_id=message_id,
        user_id=user_id if isinstance(user_id, int) else None,
        text=text,
        received_at=received_at,
        attachments=_attachments(message, update_id),
        unsupported=next((kind for kind in UNSUPPORTED_KINDS if kind in message), None),
        sender_name=_sender_name(sender),
    )
    return ParsedUpdate(incoming, _addressing(message, chat, sender, incoming.text), edited)


def _sender_name(sender: Any) -> str | None:
    """How a group's prompt names the speaker: the first name, else the @username."""
    if not isinstance(sender, dict):
        return None
    first = sender.get("first_name")
    if isinstance(first, str) and first.strip():
        return " ".join(first.split())[:64]
    username = sender.get("username")
    return f"@{username}" if isinstance(username, str) and username else None


def _attachments(message: dict[str, Any], update_id: int) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    sizes = message.get("photo")
    if sizes:
        if not isinstance(sizes, list) or not all(isinstance(size, dict) for size in sizes):
            raise MalformedUpdate(f"update {update_id}: photo is not a list of sizes")
        # Telegram lists the sizes smallest first; the biggest is the photo itself.
        largest = max(sizes, key=lambda size: (_int(size.get("file_size")) or 0,
                                               (_int(size.get("width")) or 0)
                                               * (_int(size.get("height")) or 0)))
        found.append(_file("photo", largest, update_id))
    document = message.get("document")
    if document is not None and "animation" not in message:
        if not isinstance(document, dict):
            raise MalformedUpdate(f"update {update_id}: document is not an object")
        found.append(_file("document", document, update_id))
    return tuple(found)


def _file(kind: str, raw: dict[str, Any], update_id: int) -> Attachment:
    file_id, unique_id = raw.get("file_id"), raw.get("file_unique_id")
    if not isinstance(file_id, str) or not file_id:
        raise MalformedUpdate(f"update {update_id}: {kind} without a file_id")
    name, mime = raw.get("file_name"), raw.get("mime_type")
    return Attachment(kind, file_id, unique_id if isinstance(unique_id, str) else file_id,
                      name=name if isinstance(name, str) else None,
                      size=_int(raw.get("file_size")),
                      mime=mime if isinstance(mime, str) else None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _addressing(message: dict[str, Any], chat: dict[str, Any], sender: Any,
                text: str | None) -> Addressing:
    mentions: set[str] = set()
    mentioned_ids: set[int] = set()
    entities = message.get("entities") if "text" in message else message.get("caption_entities")
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
