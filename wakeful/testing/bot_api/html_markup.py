"""Telegram's HTML parse mode: its small tag set, its entity decoding, its error messages.

Follows the parser Telegram runs (tdlib's `parse_html`) closely enough that the same input
fails with the same description, byte offsets included. Anything outside the subset is an
error; a `&` that starts no known entity is kept as text, as Telegram keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wakeful.testing.bot_api.markup import (
    Formatted,
    Output,
    Source,
    is_space,
    link_url,
    parse_error,
)

_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
     "tg-emoji", "span", "pre", "code", "blockquote"}
)  # fmt: skip
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": ord('"')}
_LT, _GT, _AMP, _SLASH, _EQ = (ord(c) for c in "<>&/=")
_QUOTES = frozenset(b"\"'")


@dataclass(slots=True)
class _Open:
    tag: str
    argument: str
    utf16_begin: int
    byte_begin: int


def parse_html(text: str) -> Formatted:
    src = Source(text)
    out = Output()
    stack: list[_Open] = []
    i = 0
    while i < src.size:
        byte = src.data[i]
        if byte == _AMP:
            decoded = _decode_entity(src, i)
            if decoded is not None:
                code, i = decoded
                out.char(code)
                continue
        if byte != _LT:
            out.byte(byte)
            i += 1
        elif src.at(i + 1) == _SLASH:
            i = _close_tag(src, i, out, stack)
        else:
            i = _open_tag(src, i, out, stack)
    if stack:
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.finish()


def _open_tag(src: Source, begin: int, out: Output, stack: list[_Open]) -> int:
    i = begin + 1
    while not is_space(src.at(i)) and src.at(i) != _GT:
        i += 1
    if src.at(i) == 0:
        raise parse_error(f"Unclosed start tag at byte offset {begin}")
    tag = src.slice(begin + 1, i).lower()
    if tag not in _TAGS:
        raise parse_error(f'Unsupported start tag "{tag}" at byte offset {begin}')

    argument = ""
    while src.at(i) != _GT:
        while src.at(i) != 0 and is_space(src.at(i)):
            i += 1
        if src.at(i) == _GT:
            break
        name_begin = i
        while not is_space(src.at(i)) and src.at(i) not in (_EQ, _GT):
            i += 1
        name = src.slice(name_begin, i).lower()
        if not name:
            raise parse_error(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while src.at(i) != 0 and is_space(src.at(i)):
            i += 1
        if src.at(i) == 0:
            raise parse_error(f"Unclosed start tag at byte offset {begin}")
        if src.at(i) != _EQ:
            # A bare attribute; the only one Telegram gives a meaning is `expandable`.
            if tag == "blockquote" and name == "expandable":
                argument = "1"
            continue
        i += 1
        while src.at(i) != 0 and is_space(src.at(i)):
            i += 1
        if src.at(i) == 0:
            raise parse_error(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value, i = _attribute_value(src, i)
        if src.at(i) == 0:
            raise parse_error(f"Unclosed start tag at byte offset {begin}")
        argument = _argument(tag, name, value, argument)

    if tag == "span" and argument != "spoiler":
        raise parse_error(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    stack.append(_Open(tag, argument, out.utf16, out.size))
    return i + 1


def _attribute_value(src: Source, i: int) -> tuple[str, int]:
    if src.at(i) not in _QUOTES:
        # An unquoted value is an HTML name token: letters, digits, '.' and '-'.
        token_begin = i
        while chr(src.at(i)).isascii() and (chr(src.at(i)).isalnum() or src.at(i) in b".-"):
            i += 1
        if not is_space(src.at(i)) and src.at(i) != _GT:
            raise parse_error(f"Unexpected end of name token at byte offset {token_begin}")
        return src.slice(token_begin, i).lower(), i
    quote = src.at(i)
    i += 1
    value = Output()
    while src.at(i) not in (quote, 0):
        decoded = _decode_entity(src, i) if src.at(i) == _AMP else None
        if decoded is None:
            value.byte(src.at(i))
            i += 1
        else:
            code, i = decoded
            value.char(code)
    if src.at(i) == quote:
        i += 1
    return value.finish().text, i


def _argument(tag: str, name: str, value: str, current: str) -> str:
    if tag == "a" and name == "href":
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and name == "emoji-id":
        return value
    if tag == "blockquote" and name == "expandable":
        return "1"
    return current


def _close_tag(src: Source, begin: int, out: Output, stack: list[_Open]) -> int:
    if not stack:
        raise parse_error(f"Unexpected end tag at byte offset {begin}")
    i = begin + 2
    while not is_space(src.at(i)) and src.at(i) != _GT:
        i += 1
    end_tag = src.slice(begin + 2, i).lower()
    while src.at(i) != 0 and is_space(src.at(i)):
        i += 1
    if src.at(i) != _GT:
        raise parse_error(f"Unclosed end tag at byte offset {begin}")
    opened = stack.pop()
    if end_tag and end_tag != opened.tag:
        raise parse_error(
            f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", '
            f'found "</{end_tag}>"'
        )
    _add_entity(opened, out)
    return i + 1


def _add_entity(opened: _Open, out: Output) -> None:
    offset = opened.utf16_begin
    if opened.tag in _SIMPLE:
        out.add(_SIMPLE[opened.tag], offset)
    elif opened.tag == "a":
        url = link_url(opened.argument or out.since(opened.byte_begin))
        if url is not None:
            out.add("text_link", offset, url=url)
    elif opened.tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise parse_error("Invalid custom emoji identifier specified")
        out.add("custom_emoji", offset, custom_emoji_id=opened.argument)
    elif opened.tag == "blockquote":
        kind = "expandable_blockquote" if opened.argument else "blockquote"
        out.add(kind, offset)
    elif opened.tag in ("pre", "code"):
        _add_code(opened, out)


def _add_code(opened: _Open, out: Output) -> None:
    # <pre><code class="language-x"> (either nesting order) spanning the same text is one
    # pre entity with a language; any other combination stays two entities.
    last = out.last_entity()
    same_span = (
        last is not None
        and last["offset"] == opened.utf16_begin
        and last["length"] == out.utf16 - opened.utf16_begin
    )
    if opened.tag == "pre":
        if same_span and last is not None and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            out.add("pre", opened.utf16_begin)
        return
    if same_span and last is not None and last["type"] == "pre" and opened.argument:
        last["language"] = opened.argument
    elif opened.argument:
        out.add("code", opened.utf16_begin, language=opened.argument)
    else:
        out.add("code", opened.utf16_begin)


def _decode_entity(src: Source, pos: int) -> tuple[int, int] | None:
    """(code point, next position) for an entity Telegram decodes at `pos`, else None."""
    end = pos + 1
    if src.at(end) == ord("#"):
        end += 1
        hexadecimal = src.at(end) == ord("x")
        end += hexadecimal
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while src.at(end) and chr(src.at(end)) in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None
        code = int(src.data[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF:
            return None
    else:
        while chr(src.at(end)).isascii() and chr(src.at(end)).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(src.data[pos + 1 : end])
        if named is None:
            return None
        code = named
    # The semicolon is optional: Telegram decodes "&lt" as well as "&lt;".
    return code, end + (src.at(end) == ord(";"))
