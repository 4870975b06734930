"""Claude's Markdown as Telegram messages: text plus entities, split to fit. Pure.

telegramify-markdown (maintained, Rust pyromark parser) turns Markdown into plain text plus
MessageEntity offsets already counted in UTF-16 units, so nothing is sent as MarkdownV2 or
HTML and no escaping mistake can get a message refused. We keep what it would turn into
nothing (HTML, `||`, `$`, `2*3` and `4*5`) and split preferring paragraphs, lines, spaces.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, pairwise

import pyromark
import telegramify_markdown
from pyromark.event import Event, Range
from telegramify_markdown.converter import STANDARD_OPTIONS

TELEGRAM_LIMIT = 4096  # UTF-16 code units per message
EMPTY = "(empty answer)"  # Telegram refuses an empty message; say so instead


@dataclass(frozen=True)
class Entity:
    """A Telegram MessageEntity, as plain picklable data."""

    type: str
    offset: int  # UTF-16 code units
    length: int  # UTF-16 code units
    url: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Part:
    """The text and formatting of one Telegram message."""

    text: str
    entities: tuple[Entity, ...] = ()

    def plain(self) -> Part:
        """The same text without formatting, for when Telegram rejects the entities."""
        return Part(self.text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def render_markdown(markdown: str, limit: int = TELEGRAM_LIMIT) -> list[Part]:
    text, entities = telegramify_markdown.convert(
        _keep_literal(markdown), latex_escape=False, config=_CONFIG)
    if not text.strip() and markdown.strip():
        # All of it was markup (say a lone link definition): show what was written.
        return render_plain(markdown, limit)
    # A custom emoji needs its id, which Entity does not carry; its fallback text stays.
    return _split(text, [_entity(e) for e in entities if e.type != "custom_emoji"], limit)


def render_plain(text: str, limit: int = TELEGRAM_LIMIT) -> list[Part]:
    return _split(text, [], limit)


# --- Conversion ---------------------------------------------------------------------------

def _render_config() -> telegramify_markdown.RenderConfig:
    # isolated(): the library's default config is process-global and mutable.
    config = telegramify_markdown.RenderConfig.isolated()
    symbol = config.markdown_symbol
    # Headings keep their bold/underline; the default 📌 ✏️ 📚 🔖 prefixes would add
    # words the brain never wrote, and cost budget.
    symbol.heading_level_1 = symbol.heading_level_2 = ""
    symbol.heading_level_3 = symbol.heading_level_4 = ""
    # The default open task is ☑ (a box *with* a check): it would read as done.
    symbol.task_uncompleted = "⬜"
    # "⦁" (Z notation spot) is missing from many fonts; "•" is everywhere.
    symbol.unordered_list_item = "•"
    # A long quote stays expanded: an answer is for reading, not behind a tap.
    config.cite_expandable = False
    return config


_CONFIG = _render_config()


def _entity(e: telegramify_markdown.MessageEntity) -> Entity:
    return Entity(e.type, e.offset, e.length, e.url, e.language)


def _keep_literal(markdown: str) -> str:
    """Backslash-escape the markup that would make the brain's own characters vanish.

    - Telegram has no math: the converter shows `$…$` as code without its dollars
      ("$PATH/$HOME" -> "PATH/HOME"). LaTeX stays as written instead.
    - Telegram cannot show HTML, so the converter drops inline HTML and HTML blocks
      ("x <b> y" -> "x  y", "use <your-token>" -> "use ").
    - It reads `||…||` as a spoiler, even across paragraphs; GitHub Markdown (Claude's
      dialect) has none.
    - Emphasis meant as characters: see _not_emphasis.

    Only what the parser calls math, HTML, text or emphasis is touched, never code.
    """
    source = markdown.encode()
    added: list[int] = []  # where our backslashes are
    if b"$" in source:  # once, first: afterwards no `$` is left to pair as math
        source, added = _escape(source, added, _math_to_escape(source))
    if any(mark in source for mark in (b"<", b"||", b"*", b"__")):
        # An escaped HTML block is read again as Markdown, which may hold more HTML:
        # repeat until there is none. Each round escapes more characters and an escaped
        # one stays so, so this ends.
        while offsets := _markup_to_escape(source):
            source, added = _escape(source, added, offsets)
    return (_unescape_literal_spans(source, added) if added else source).decode()


def _escape(source: bytes, added: list[int], offsets: list[int]) -> tuple[bytes, list[int]]:
    """Put a backslash before each byte offset, and say where all of ours now are."""
    offsets = sorted(set(offsets))
    bounds = [0, *offsets, len(source)]
    moved = [at + bisect_right(offsets, at) for at in added]
    return (b"\\".join(source[a:b] for a, b in pairwise(bounds)),
            sorted(moved + [at + n for n, at in enumerate(offsets)]))


def _unescape_literal_spans(source: bytes, added: list[int]) -> bytes:
    """Take our backslashes out of code and autolinks again, where they would show.

    In both a backslash is a character, not an escape, so taking it out changes nothing
    else. An autolink's `$` was escaped as text; code can come over escapes made before
    when escaping an HTML block lets the parser see a code fence the block hid.
    """
    spans = []
    for event, span in _events(source):
        start = event.get("Start") if isinstance(event, dict) else None
        link = start.get("Link") if isinstance(start, dict) else None
        if ((isinstance(event, dict) and "Code" in event)
                or (isinstance(start, dict) and "CodeBlock" in start)
                or (link is not None and link["link_type"] in ("Autolink", "Email"))):
            spans.append((span["start"], span["end"]))
    starts = [lo for lo, _ in spans]  # in order, and none inside another
    shown = {at for at in added
             if (n := bisect_right(starts, at) - 1) >= 0 and at < spans[n][1]}
    if not shown:
        return source
    return bytes(byte for at, byte in enumerate(source) if at not in shown)


def _events(source: bytes) -> Iterator[tuple[Event, Range]]:
    return pyromark.events_with_range(source.decode(), options=STANDARD_OPTIONS)


def _outside_code(source: bytes) -> Iterator[tuple[Event, int, int]]:
    """The parser's events with their byte spans, but none from inside code blocks."""
    in_code_block = False
    for event, span in _events(source):
        if isinstance(event, dict) and "Start" in event:
            tag = event["Start"]
            in_code_block |= isinstance(tag, dict) and "CodeBlock" in tag
        elif isinstance(event, dict) and "End" in event and event["End"] == "CodeBlock":
            in_code_block = False
            continue
        if not in_code_block:
            yield event, span["start"], span["end"]


# Math content is raw: once its dollars are escaped it would be read as Markdown. Not
# ` or ~: an escape there could move where code begins and ends.
_PUNCTUATION = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_{|}")


def _math_to_escape(source: bytes) -> list[int]:
    """Byte offsets to escape: punctuation in math, every other bare `$` but in code."""
    offsets: list[int] = []
    for event, start, end in _outside_code(source):
        if isinstance(event, dict) and ("InlineMath" in event or "DisplayMath" in event):
            offsets.extend(i for i in range(start, end) if source[i] in _PUNCTUATION)
        elif isinstance(event, dict) and ("Text" in event or "Html" in event
                                          or "InlineHtml" in event):  # HTML may become text
            offsets.extend(i for i in range(start, end)
                           if source[i] == ord("$") and not _is_escaped(source, i))
    return offsets


def _is_escaped(source: bytes, i: int) -> bool:
    start = i
    while start > 0 and source[start - 1] == ord("\\"):
        start -= 1
    return (i - start) % 2 == 1


def _markup_to_escape(source: bytes) -> list[int]:
    """Byte offsets to escape: `<` opening HTML, `||` in text, emphasis meant as text."""
    offsets: list[int] = []
    for event, start, end in _outside_code(source):
        if not isinstance(event, dict):
            continue
        if "InlineHtml" in event:
            offsets.append(start)
        elif "Html" in event:  # one line of an HTML block
            at = source.find(b"<", start, end)
            if at >= 0 and not source[start:at].strip():
                offsets.append(at)
        elif "Text" in event:
            for pipes in re.finditer(rb"\|{2,}", source[start:end]):
                offsets.extend(range(start + pipes.start(), start + pipes.end()))
        elif "Start" in event and event["Start"] in ("Emphasis", "Strong"):
            width = 1 if event["Start"] == "Emphasis" else 2
            offsets.extend(_not_emphasis(source, start, end, width))
    return offsets


def _not_emphasis(source: bytes, start: int, end: int, width: int) -> tuple[int, ...]:
    """The delimiters of an emphasis that the writer meant as characters, if it is one.

    `2*3=6 and 4*5=20` is italic to CommonMark ("3=6 and 4"), and so is `2**10 or 3**4`
    bold: a `*` between two ASCII letters or digits is arithmetic (a cost: `foo**bar**`
    is no longer bold; CJK text, where bold is wedged between letters, keeps it).
    `__init__` is a Python name, not "init" in bold. (`x_y_z` is already safe.)
    """
    opener = source[start:start + width]
    content = source[start + width:end - width]
    if opener == b"*" * width:
        inside = ((source[start - 1:start].isalnum() and content[:1].isalnum())
                  or (content[-1:].isalnum() and source[end:end + 1].isalnum()))
    else:
        inside = opener == b"__" and re.fullmatch(rb"[A-Za-z0-9_]+", content) is not None
    return (*range(start, start + width), *range(end - width, end)) if inside else ()


# --- Splitting ----------------------------------------------------------------------------

# Where a part may end, best first; the part ends after the separator.
_SEPARATORS = ("\n\n", "\n", " ")


def _split(text: str, entities: list[Entity], limit: int) -> list[Part]:
    """Cut text into parts of at most limit UTF-16 units, each with its entities clipped.

    No part is blank (Telegram refuses one) and the joined parts are the text, but for
    whitespace that could only come along by cutting a word or sending a blank message:
    a blank stretch longer than a message, or blank lines after the last word that do
    not fit beside it. That is left out, where Telegram would trim it anyway.
    """
    if limit < 2:
        raise ValueError("a part must have room for a character outside the BMP")
    if not text.strip():
        text, entities = EMPTY, []
    # units[i]: UTF-16 offset of text[i]; Python indexes whole code points, so a cut
    # between two indexes never falls inside a surrogate pair.
    units = [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]
    last = len(text.rstrip()) - 1  # the last visible character; text[start:] always has it
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = bisect_right(units, units[start] + limit) - 1  # the furthest cut that fits
        if end >= len(text):
            spans.append((start, len(text)))
            break
        window = text[start:end + 1]
        first = end + 1 - len(window.lstrip())  # the first visible character, if it fits
        if first >= end:  # a blank stretch longer than a message
            start = first
            continue
        # Within (first, last] both this part and the rest show something.
        half = max(bisect_left(units, units[start] + limit // 2), first + 1)
        cut = _break(text, half, min(end, last))
        if cut is None and last < end:
            spans.append((start, end))
            break
        if cut is None:
            cut = _hard_cut(text, half, end)
        spans.append((start, cut))
        start = cut
    return [_part(text, units, entities, a, b) for a, b in spans]


def _break(text: str, lo: int, hi: int) -> int | None:
    """The latest cut in [lo, hi] after a paragraph break, else a line break, else a space.

    lo is half a message in: an earlier break would leave a part less than half full,
    and one early paragraph break would then turn an answer into many small messages.
    """
    for sep in _SEPARATORS:
        at = text.rfind(sep, max(0, lo - len(sep)), hi)
        if at >= 0:
            return at + len(sep)
    return None


def _hard_cut(text: str, lo: int, hi: int) -> int:
    """A cut in a word at hi, moved back so that a drawn character stays whole."""
    cut = hi
    while cut > lo and _joined(text, cut):
        cut -= 1
    return cut


def _joined(text: str, i: int) -> bool:
    """Whether text[i] belongs to the character drawn before it (emoji, accents, flags)."""
    char, before = text[i], text[i - 1]
    if before == "\u200d" or char == "\u200d":  # zero-width joiner
        return True
    code = ord(char)
    if (0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF  # variation, skin tone
            or 0xE0020 <= code <= 0xE007F or unicodedata.category(char).startswith("M")):
        return True
    if 0xDC00 <= code <= 0xDFFF and 0xD800 <= ord(before) <= 0xDBFF:  # a split-up pair
        return True
    if _is_regional(char):  # flags are pairs of regional indicators
        run = 0
        while i - run - 1 >= 0 and _is_regional(text[i - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _part(text: str, units: list[int], entities: list[Entity], a: int, b: int) -> Part:
    """text[a:b] with the entities that overlap it, clipped and counted from its start.

    An entity cut by the split is in both parts, so a code block goes on, with its
    language, in the next message.
    """
    lo, hi = units[a], units[b]
    clipped = []
    for e in entities:
        start, end = max(e.offset, lo), min(e.offset + e.length, hi)
        if start < end:
            clipped.append(Entity(e.type, start - lo, end - start, e.url, e.language))
    return Part(text[a:b], tuple(clipped))
