"""Entities Telegram finds by itself in what users write: /commands and @mentions.

The rules are Telegram's own (tdlib's `find_bot_commands` and `find_mentions`), so a test
sees exactly the entities a real update would carry, with UTF-16 offsets and lengths.
"""

from __future__ import annotations

import re

from wakeful.testing.bot_api.errors import JSONDict
from wakeful.testing.bot_api.markup import sort_entities
from wakeful.testing.bot_api.utf16 import utf16_length

# "/cmd" or "/cmd@some_bot", not glued to a word, a path ("/a/b") or a tag ("</b>").
_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")
# A mention is 2 to 32 username characters after an "@" that no word character precedes;
# of the short ones only Telegram's inline bots @gif, @vid and @pic count.
_MENTION = re.compile(r"(?<!\w)@([A-Za-z0-9_]{2,32})(?![\w])")
_SHORT_USERNAMES = frozenset({"gif", "vid", "pic"})


def detect_entities(text: str) -> list[JSONDict]:
    found: list[JSONDict] = []
    for match in _COMMAND.finditer(text):
        found.append(_entity("bot_command", text, match.start(), match.end()))
    for match in _MENTION.finditer(text):
        name = match.group(1)
        if len(name) >= 4 or name.lower() in _SHORT_USERNAMES:
            found.append(_entity("mention", text, match.start(), match.end()))
    return list(sort_entities(found))


def _entity(kind: str, text: str, start: int, end: int) -> JSONDict:
    offset = utf16_length(text[:start])
    return {"type": kind, "offset": offset, "length": utf16_length(text[start:end])}
