"""How a bot's text becomes the message users see: parse mode or explicit entities.

`format_text` is what sendMessage, editMessageText and sendMessageDraft share. Explicit
`entities` win over `parse_mode`, as on Telegram; without either the text is stored as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram.constants import MessageEntityType

from wakeful.testing.bot_api.errors import JSONDict, bad_request
from wakeful.testing.bot_api.html_markup import parse_html
from wakeful.testing.bot_api.markdown_markup import parse_markdown, parse_markdown_v2
from wakeful.testing.bot_api.markup import Formatted, sort_entities
from wakeful.testing.bot_api.utf16 import utf16_length

_PARSERS: dict[str, Callable[[str], Formatted]] = {
    "html": parse_html,
    "markdownv2": parse_markdown_v2,
    "markdown": parse_markdown,
}
_ENTITY_TYPES = frozenset(kind.value for kind in MessageEntityType)
# Telegram refuses entity bounds beyond a million before it even looks at the text.
_MAX_BOUND = 1_000_000


def format_text(text: str, parse_mode: str | None, entities: Any) -> Formatted:
    if not _is_utf8(text):
        raise bad_request("text must be encoded in UTF-8")
    if entities is not None and entities != []:
        return Formatted(text, sort_entities(_explicit_entities(text, entities)))
    if not parse_mode:
        return Formatted(text)
    parser = _PARSERS.get(parse_mode.lower())
    if parser is None:
        raise bad_request("unsupported parse_mode")
    return parser(text)


def _is_utf8(text: str) -> bool:
    # JSON can smuggle in a lone surrogate ("\ud83d"), which no UTF-8 text contains.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _explicit_entities(text: str, raw: Any) -> list[JSONDict]:
    if not isinstance(raw, list):
        raise bad_request("can't parse entities JSON object")
    length = utf16_length(text)
    kept: list[JSONDict] = []
    for item in raw:
        entity = _parse_entity(item)
        offset, size = entity["offset"], entity["length"]
        if not 0 <= offset <= _MAX_BOUND:
            raise bad_request(f"receive an entity with incorrect offset {offset}")
        if not 0 <= size <= _MAX_BOUND:
            raise bad_request(f"receive an entity with incorrect length {size}")
        if size == 0:
            continue
        if offset > length:
            raise bad_request(f"entity begins after the end of the text at UTF-16 offset {offset}")
        if offset + size > length:
            raise bad_request(
                f"entity beginning at UTF-16 offset {offset} ends after the end of the text "
                f"at UTF-16 offset {offset + size}"
            )
        kept.append(entity)
    return kept


def _parse_entity(item: Any) -> JSONDict:
    if not isinstance(item, dict):
        raise bad_request("can't parse MessageEntity: Object expected")
    if not isinstance(item.get("type"), str):
        raise bad_request('can\'t parse MessageEntity: Field "type" must be of type String')
    if item["type"] not in _ENTITY_TYPES:
        raise bad_request("can't parse MessageEntity: Unsupported type specified")
    for field in ("offset", "length"):
        value = item.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f'can\'t parse MessageEntity: Field "{field}" must be of type Number')
    return dict(item)
