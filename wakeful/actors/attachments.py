"""Files and edits on a chat's side: what a message waits for, what the brain is told,
and every word wakeful says about them. Pure: the chat actor applies it (the downloads
through its file desk, wakeful/actors/file_desk.py).

A message with files is acknowledged and queued like any other, and each file is
asked for at once (`FetchFile`, made at the edge through the outbound actor). The
message keeps its place in line but is not given to a brain until all of its files
are saved; the brain then gets the caption and one line per file naming its absolute
path. A file over the size limit is refused before any download; one that cannot be
fetched answers its message with the reason instead of running it. Content wakeful
cannot read (voice, stickers, locations, ...) is answered at once and never runs.
"""

from __future__ import annotations

import mimetypes
from collections import deque
from dataclasses import dataclass, replace

from wakeful.bots.errors import FailureKind
from wakeful.delivery.calls import FetchFile, SavedFile
from wakeful.messages import Attachment, Delivered, DeliveryFailed, IncomingMessage, MessageEdited

_UNSUPPORTED_NAMES = {
    "voice": "Voice messages", "video_note": "Video messages", "video": "Videos",
    "audio": "Audio files", "animation": "GIFs", "sticker": "Stickers",
    "venue": "Venues", "location": "Locations", "contact": "Contacts", "poll": "Polls",
    "dice": "Dice", "game": "Games", "story": "Stories", "paid_media": "Paid media",
    "checklist": "Checklists", "invoice": "Invoices",
}
EDIT_TOO_LATE = ("I had already started on the original message; send the change as a "
                 "new message.")


def unsupported_text(kind: str) -> str:
    what = _UNSUPPORTED_NAMES.get(kind, "Messages like that one")
    return f"I can read text, photos and documents. {what} aren't supported yet."


def too_big_text(attachment: Attachment, size: int | None, limit: int) -> str:
    shown = f" ({human_size(size)})" if size is not None else ""
    return (f"⚠️ {_label(attachment)}{shown} is too big for me: I can download files of up "
            f"to {human_size(limit)}. Send a smaller one, or a link to it.")


def fetch_failed_text(attachment: Attachment, reason: str) -> str:
    return (f"⚠️ I could not download {_label(attachment)} from Telegram ({reason}), so I "
            "have not read your message. Please send it again.")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def default_name(attachment: Attachment) -> str:
    """The name to save it under (made safe by the store): the sender's, else a stable one."""
    if attachment.kind == "photo":
        return f"photo-{attachment.file_unique_id}.jpg"
    if attachment.name:
        return attachment.name
    extension = mimetypes.guess_extension(attachment.mime or "") or ""
    return f"{attachment.kind}-{attachment.file_unique_id}{extension}"


@dataclass(frozen=True)
class FileTag:
    """The tag of a FetchFile: which message's which file the outcome is about."""

    update_id: int
    index: int


class Downloads:
    """The files of one chat's queued messages: asked for, saved, or failed."""

    def __init__(self, chat_id: int, directory: str, max_bytes: int) -> None:
        self._chat_id = chat_id
        self._directory = directory
        self._max_bytes = max_bytes
        # update_id -> one slot per attachment, filled as each file is saved
        self._files: dict[int, list[SavedFile | None]] = {}
        self._messages: dict[int, IncomingMessage] = {}

    def refusal(self, message: IncomingMessage) -> str | None:
        """What to answer instead of running the message, if it cannot run at all."""
        if message.unsupported is not None:
            return unsupported_text(message.unsupported)
        for attachment in message.attachments:
            if attachment.size is not None and attachment.size > self._max_bytes:
                return too_big_text(attachment, attachment.size, self._max_bytes)
        return None

    def fetch(self, message: IncomingMessage) -> list[tuple[FetchFile, FileTag]]:
        """The downloads this message needs (none without files, or asked for already)."""
        if not message.attachments or message.update_id in self._files:
            return []
        self._files[message.update_id] = [None] * len(message.attachments)
        self._messages[message.update_id] = message
        return [(FetchFile(self._chat_id, a.file_id, self._directory, default_name(a),
                           self._max_bytes), FileTag(message.update_id, index))
                for index, a in enumerate(message.attachments)]

    def ready(self, message: IncomingMessage) -> bool:
        """Every file of the message is saved (true for a message without files)."""
        if not message.attachments:
            return True
        slots = self._files.get(message.update_id)
        return slots is not None and all(slot is not None for slot in slots)

    def settle(self, result: Delivered | DeliveryFailed) -> tuple[int, str | None] | None:
        """A FetchFile's outcome: (update_id, None) once saved, (update_id, the answer to
        give instead) when it failed; None when it is about nothing still waiting."""
        tag = result.tag
        assert isinstance(tag, FileTag)
        slots = self._files.get(tag.update_id)
        message = self._messages.get(tag.update_id)
        if slots is None or message is None:
            return None  # a sibling failed first, or the message is gone
        if isinstance(result, Delivered) and result.saved is not None:
            slots[tag.index] = result.saved
            return tag.update_id, None
        attachment = message.attachments[tag.index]
        self.forget(tag.update_id)
        if isinstance(result, DeliveryFailed) and \
                result.failure.kind is FailureKind.FILE_TOO_BIG:
            # The size the message stated was under the limit, so it was wrong: no size.
            size = attachment.size if (attachment.size or 0) > self._max_bytes else None
            return tag.update_id, too_big_text(attachment, size, self._max_bytes)
        reason = result.failure.description if isinstance(result, DeliveryFailed) \
            else "nothing was saved"
        return tag.update_id, fetch_failed_text(attachment, reason[:200])

    def prompt(self, message: IncomingMessage) -> str:
        """What the brain is told: the text (caption), then one line per saved file."""
        slots = self._files.get(message.update_id, [])
        lines = [message.text] if message.text else []
        for attachment, saved in zip(message.attachments, slots, strict=False):
            if saved is not None:
                lines.append(f"[{_label(attachment)} saved at {saved.path} "
                             f"({human_size(saved.size)})]")
        return "\n".join(lines)

    def forget(self, update_id: int) -> None:
        self._files.pop(update_id, None)
        self._messages.pop(update_id, None)

    def clear(self) -> None:
        self._files.clear()
        self._messages.clear()


def apply_edit(queue: deque[IncomingMessage], edit: MessageEdited) -> IncomingMessage | None:
    """Give a queued message its new text; the edited message, None if it is not queued."""
    for index, message in enumerate(queue):
        if message.message_id == edit.message_id:
            queue[index] = replace(message, text=edit.text)
            return queue[index]
    return None


def _label(attachment: Attachment) -> str:
    if attachment.kind == "photo":
        return "photo"
    return f'{attachment.kind} "{attachment.name}"' if attachment.name else attachment.kind
