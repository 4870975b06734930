"""What users can send besides text, in the minimal JSON shapes Telegram's updates carry.

Pass one of these to `BotApiCore.inject_message`; the core gives each file its ids. Photo,
document and voice take a caption, as on Telegram; a sticker has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wakeful.testing.bot_api.errors import JSONDict

# Telegram keeps a photo at several sizes, each no larger than the original.
_PHOTO_SIDES = (90, 320, 800, 1280)


class Attachment(Protocol):
    def fields(self, file_key: str) -> JSONDict:
        """The message fields this attachment adds; `file_key` makes its file ids unique."""
        ...


def _file(kind: str, file_key: str, size: int) -> JSONDict:
    return {
        "file_id": f"{kind}-{file_key}",
        "file_unique_id": f"AQAD{file_key}",
        "file_size": size,
    }


def _with_caption(fields: JSONDict, caption: str | None) -> JSONDict:
    if caption is not None:
        fields["caption"] = caption
    return fields


@dataclass(frozen=True, slots=True)
class Photo:
    caption: str | None = None
    width: int = 1280
    height: int = 960

    def fields(self, file_key: str) -> JSONDict:
        longest = max(self.width, self.height)
        sides = [side for side in _PHOTO_SIDES if side < longest] + [longest]
        sizes = []
        for index, side in enumerate(sides):
            scale = side / longest
            width, height = round(self.width * scale), round(self.height * scale)
            sizes.append(
                {
                    **_file("photo", f"{file_key}-{index}", width * height // 8),
                    "width": width,
                    "height": height,
                }
            )
        return _with_caption({"photo": sizes}, self.caption)


@dataclass(frozen=True, slots=True)
class Document:
    file_name: str = "notes.txt"
    mime_type: str = "text/plain"
    file_size: int = 2048
    caption: str | None = None

    def fields(self, file_key: str) -> JSONDict:
        document = {
            **_file("document", file_key, self.file_size),
            "file_name": self.file_name,
            "mime_type": self.mime_type,
        }
        return _with_caption({"document": document}, self.caption)


@dataclass(frozen=True, slots=True)
class Sticker:
    emoji: str = "👍"
    set_name: str = "TestStickers"

    def fields(self, file_key: str) -> JSONDict:
        sticker = {
            **_file("sticker", file_key, 24_000),
            "width": 512,
            "height": 512,
            "emoji": self.emoji,
            "set_name": self.set_name,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return {"sticker": sticker}


@dataclass(frozen=True, slots=True)
class Voice:
    duration: int = 3
    caption: str | None = None

    def fields(self, file_key: str) -> JSONDict:
        voice = {
            **_file("voice", file_key, self.duration * 4_000),
            "duration": self.duration,
            "mime_type": "audio/ogg",
        }
        return _with_caption({"voice": voice}, self.caption)
