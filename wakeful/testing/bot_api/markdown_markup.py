"""Telegram's MarkdownV2 and legacy Markdown parse modes, with Telegram's error messages.

MarkdownV2 reserves `_*[]()~`>#+-=|{}.!`: outside code, each must either open or close an
entity or be escaped with a backslash, which is the error bots hit most. The walk follows
the parser Telegram runs (tdlib's `parse_markdown_v2`), including block quotes made of
lines starting with `>` (or `**>` for an expandable one that ends with `||`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from wakeful.testing.bot_api.markup import (
    Formatted,
    Output,
    Source,
    is_space,
    link_url,
    parse_error,
)

_RESERVED = frozenset(b"_*[]()~`>#+-=|{}.!")
_CODE_RESERVED = frozenset(b"`")
_BACKSLASH, _GT, _PIPE, _TICK, _LF = (ord(c) for c in "\\>|`\n")
_NEWLINES = frozenset(b"\n\r")
# Entity kinds as Telegram names them in "Can't find end of <kind> entity" errors.
_BOT_API_TYPE = {
    "Bold": "bold",
    "Italic": "italic",
    "Underline": "underline",
    "Strikethrough": "strikethrough",
    "Spoiler": "spoiler",
    "Code": "code",
    "Pre": "pre",
    "PreCode": "pre",
}
_CODE_KINDS = frozenset({"Code", "Pre", "PreCode"})


@dataclass(slots=True)
class _Open:
    kind: str
    argument: str
    utf16_begin: int
    byte_offset: int  # of the opening marker in the input, for error messages
    output_begin: int


@dataclass(slots=True)
class _Quote:
    utf16_begin: int
    expandable: bool
    depth: int  # entities already open when the quote began; they may outlive it


def _reserved(c: int) -> str:
    return f"Character '{chr(c)}' is reserved and must be escaped with the preceding '\\'"


def parse_markdown_v2(text: str) -> Formatted:
    src = Source(text)
    out = Output()
    stack: list[_Open] = []
    quote: _Quote | None = None
    i = 0
    while i < src.size:
        in_code = bool(stack) and stack[-1].kind in _CODE_KINDS
        if not in_code and (i == 0 or src.data[i - 1] in _NEWLINES):
            expandable = src.startswith(b"**>", i)
            if expandable or src.at(i) == _GT:
                if quote is not None and expandable:
                    _close_quote(quote, stack, out)
                    quote = None
                if quote is None:
                    quote = _Quote(out.utf16, expandable, len(stack))
                i += 3 if expandable else 1
                continue
            if quote is not None and src.data[i - 1] == _LF:
                # Only a line feed ends a quoted line; a lone "\r" does not.
                _close_quote(quote, stack, out)
                quote = None

        c = src.data[i]
        if c == _BACKSLASH and 0 < src.at(i + 1) <= 126:
            out.byte(src.at(i + 1))
            i += 2
            continue
        if c not in (_CODE_RESERVED if in_code else _RESERVED):
            out.byte(c)
            i += 1
            continue
        if stack and _ends(stack[-1].kind, src, i):
            i = _close(src, i, out, stack.pop())
        elif (
            quote is not None
            and c == _PIPE
            and src.at(i + 1) == _PIPE
            and src.at(i + 2) in (0, *_NEWLINES)
        ):
            # "||" at the end of a quoted line is the end mark of an expandable quote.
            quote.expandable = True
            _close_quote(quote, stack, out)
            quote = None
            i += 2
        else:
            i = _open(src, i, out, stack)

    if quote is not None:
        _close_quote(quote, stack, out)
    if stack:
        top = stack[-1]
        raise parse_error(f"Can't find end of {top.kind} entity at byte offset {top.byte_offset}")
    return out.finish()


def _close_quote(quote: _Quote, stack: list[_Open], out: Output) -> None:
    if len(stack) > quote.depth:
        top = stack[-1]
        raise parse_error(f"Can't find end of {top.kind} entity at byte offset {top.byte_offset}")
    out.add("expandable_blockquote" if quote.expandable else "blockquote", quote.utf16_begin)


def _ends(kind: str, src: Source, i: int) -> bool:
    c, after = src.at(i), src.at(i + 1)
    match kind:
        case "Bold":
            return c == ord("*")
        case "Italic":
            return c == ord("_") and after != ord("_")
        case "Underline":
            return c == ord("_") and after == ord("_")
        case "Strikethrough":
            return c == ord("~")
        case "Spoiler":
            return c == _PIPE and after == _PIPE
        case "Code":
            return c == _TICK
        case "Pre" | "PreCode":
            return src.startswith(b"```", i)
        case _:  # TextUrl, CustomEmoji
            return c == ord("]")


def _open(src: Source, i: int, out: Output, stack: list[_Open]) -> int:
    c, begin = src.data[i], i
    argument = ""
    if c == ord("_"):
        kind = "Underline" if src.at(i + 1) == ord("_") else "Italic"
        i += kind == "Underline"
    elif c == ord("*"):
        kind = "Bold"
    elif c == ord("~"):
        kind = "Strikethrough"
    elif c == _PIPE and src.at(i + 1) == _PIPE:
        kind, i = "Spoiler", i + 1
    elif c == ord("["):
        kind = "TextUrl"
    elif c == ord("!") and src.at(i + 1) == ord("["):
        kind, i = "CustomEmoji", i + 1
    elif c == _TICK and src.startswith(b"```", i):
        kind, argument, i = _open_pre(src, i + 3)
        stack.append(_Open(kind, argument, out.utf16, begin, out.size))
        return i
    elif c == _TICK:
        kind = "Code"
    else:
        raise parse_error(_reserved(c))
    stack.append(_Open(kind, argument, out.utf16, begin, out.size))
    return i + 1


def _open_pre(src: Source, i: int) -> tuple[str, str, int]:
    kind, language = "Pre", ""
    end = i
    while not is_space(src.at(end)) and src.at(end) != _TICK:
        end += 1
    if end != i and end < src.size and src.at(end) != _TICK:
        kind, language, i = "PreCode", src.slice(i, end), end
    # One line break right after the opening fence (or the language) is not content.
    if src.at(i) in _NEWLINES:
        pair = src.at(i + 1) in _NEWLINES and src.at(i) != src.at(i + 1)
        i += 2 if pair else 1
    return kind, language, i


def _close(src: Source, i: int, out: Output, opened: _Open) -> int:
    offset = opened.utf16_begin
    if opened.kind in ("Underline", "Spoiler"):
        i += 1
    elif opened.kind in ("Pre", "PreCode"):
        i += 2
    if opened.kind in _BOT_API_TYPE:
        extra = {"language": opened.argument} if opened.kind == "PreCode" else {}
        out.add(_BOT_API_TYPE[opened.kind], offset, **extra)
    elif opened.kind == "TextUrl":
        if src.at(i + 1) == ord("("):
            raw, i = _url(src, i + 2, "a URL")
        else:
            raw = out.since(opened.output_begin)
        url = link_url(raw)
        if url is not None:
            out.add("text_link", offset, url=url)
    else:
        if src.at(i + 1) != ord("("):
            raise parse_error("Custom emoji entity must contain a tg://emoji URL")
        raw, i = _url(src, i + 2, "a custom emoji URL")
        out.add("custom_emoji", offset, custom_emoji_id=_custom_emoji_id(raw))
    return i + 1


def _url(src: Source, i: int, what: str) -> tuple[str, int]:
    begin = i
    url = Output()
    while i < src.size and src.at(i) != ord(")"):
        if src.at(i) == _BACKSLASH and 0 < src.at(i + 1) <= 126:
            i += 1
        url.byte(src.at(i))
        i += 1
    if src.at(i) != ord(")"):
        raise parse_error(f"Can't find end of {what} at byte offset {begin}")
    return url.finish().text, i


def _custom_emoji_id(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() != "tg":
        raise parse_error("Custom emoji URL must have scheme tg")
    if parts.netloc.lower() != "emoji":
        raise parse_error('Custom emoji URL must have host "emoji"')
    ids = parse_qs(parts.query).get("id")
    if not ids:
        raise parse_error("Custom emoji URL must have an emoji identifier")
    if not ids[0].isdigit() or ids[0].startswith("0"):
        raise parse_error("Invalid custom emoji identifier specified")
    return ids[0]


def parse_markdown(text: str) -> Formatted:
    """Legacy Markdown: `*bold*`, `_italic_`, `` `code` ``, fenced pre and `[text](url)`."""
    src = Source(text)
    out = Output()
    i = 0
    while i < src.size:
        c = src.data[i]
        if c == _BACKSLASH and src.at(i + 1) in b"_*`[":
            out.byte(src.at(i + 1))
            i += 2
            continue
        if c not in b"_*`[":
            out.byte(c)
            i += 1
            continue
        begin = i
        end_mark = ord("]") if c == ord("[") else c
        is_pre = src.startswith(b"```", i)
        language = ""
        if is_pre:
            _, language, i = _open_pre(src, i + 3)
        else:
            i += 1
        offset = out.utf16
        while i < src.size and (
            src.at(i) != end_mark or (is_pre and not src.startswith(b"```", i))
        ):
            out.byte(src.at(i))
            i += 1
        if i >= src.size:
            raise parse_error(f"Can't find end of the entity starting at byte offset {begin}")
        if c == ord("["):
            raw = src.slice(begin + 1, i)
            if src.at(i + 1) == ord("("):
                close = src.data.find(b")", i + 2)
                close = src.size if close < 0 else close
                raw, i = src.slice(i + 2, close), close
            url = link_url(raw)
            if url is not None:
                out.add("text_link", offset, url=url)
        elif is_pre:
            out.add("pre", offset, **({"language": language} if language else {}))
            i += 2
        else:
            out.add({ord("_"): "italic", ord("*"): "bold"}.get(c, "code"), offset)
        i += 1
    return out.finish()
