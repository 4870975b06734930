"""What every parse mode produces: plain text plus entities, measured the way Telegram does.

Parsers walk the UTF-8 bytes of the input, as Telegram's own parser does, so that the byte
offsets in their error messages match the ones a bot would see from api.telegram.org.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wakeful.testing.bot_api.errors import ApiError, JSONDict, bad_request

# Telegram's whitespace test counts the terminating NUL too; parsers read 0 past the end.
_SPACES = frozenset(b" \t\r\n\v\0")
_LINK_SCHEMES = frozenset({"http", "https", "ftp", "tg", "ton"})
# Entities that share a span are listed in this order (tdlib's type priorities).
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}


def parse_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def is_space(byte: int) -> bool:
    return byte in _SPACES


@dataclass(frozen=True, slots=True)
class Formatted:
    """A message text as stored: markup removed, formatting kept as Bot API entities."""

    text: str
    entities: tuple[JSONDict, ...] = ()

    def entity_list(self) -> list[JSONDict] | None:
        # Telegram omits the field when there is nothing to list.
        return [dict(entity) for entity in self.entities] or None


class Source:
    """The input as UTF-8 bytes, reading 0 past the end like the C string Telegram parses."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogatepass")
        self.size = len(self.data)

    def at(self, index: int) -> int:
        return self.data[index] if index < self.size else 0

    def startswith(self, prefix: bytes, index: int) -> bool:
        return self.data.startswith(prefix, index)

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")


class Output:
    """The plain text a parser emits and the entities found so far, in UTF-16 offsets."""

    def __init__(self) -> None:
        self._bytes = bytearray()
        self.utf16 = 0
        self._entities: list[JSONDict] = []

    @property
    def size(self) -> int:
        return len(self._bytes)

    def byte(self, value: int) -> None:
        self._bytes.append(value)
        if value & 0xC0 != 0x80:
            # A four-byte sequence is a surrogate pair in UTF-16.
            self.utf16 += 2 if value >= 0xF0 else 1

    def char(self, code: int) -> None:
        if 0xD800 <= code <= 0xDFFF:
            raise parse_error(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        self._bytes.extend(chr(code).encode())
        self.utf16 += 2 if code > 0xFFFF else 1

    def since(self, byte_offset: int) -> str:
        return self._bytes[byte_offset:].decode("utf-8", "replace")

    def add(self, kind: str, offset: int, **extra: Any) -> None:
        """Record an entity from `offset` to here; empty ones vanish, as on Telegram."""
        if self.utf16 > offset:
            self._entities.append(
                {"type": kind, "offset": offset, "length": self.utf16 - offset, **extra}
            )

    def last_entity(self) -> JSONDict | None:
        return self._entities[-1] if self._entities else None

    def finish(self) -> Formatted:
        for entity in self._entities:
            if entity["type"] != "pre":
                # Parsers park a code block's language on its code entity until they know
                # whether a pre will claim it; only pre entities carry one on Telegram.
                entity.pop("language", None)
        return Formatted(
            self._bytes.decode("utf-8", "surrogatepass"), sort_entities(self._entities)
        )


def sort_entities(entities: list[JSONDict]) -> tuple[JSONDict, ...]:
    """Telegram's order: by offset, longer first, then by its fixed priority of types."""
    return tuple(
        sorted(entities, key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))
    )


def link_url(raw: str) -> str | None:
    """The URL Telegram keeps for a text link, or None where it silently drops the link."""
    if not raw or any(ch.isspace() for ch in raw):
        return None
    url = raw if "://" in raw or raw.lower().startswith("tg:") else f"http://{raw}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _LINK_SCHEMES:
        return None
    if parts.scheme.lower() == "tg":
        return url
    host = parts.hostname or ""
    if "." not in host.strip("."):
        return None
    return url if parts.path or parts.query or parts.fragment else f"{url}/"
