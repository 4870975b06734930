"""Formatted text: Telegram's HTML and MarkdownV2 rules, and what users end up seeing."""

from __future__ import annotations

import pytest
from telegram import Message, MessageEntity
from telegram.error import BadRequest

from tests.bots.harness import TOKEN, USER, BotFactory, run
from wakeful.testing.bot_api import BotApiCore

PARSE_ERROR = "Bad Request: can't parse entities: "


def _send(core: BotApiCore, text: str, **params: object) -> tuple[int, dict]:
    return core.dispatch(TOKEN, "sendMessage", {"chat_id": USER, "text": text, **params})


@pytest.fixture(autouse=True)
def _chat(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")


def test_html_is_stored_as_the_text_users_see_with_its_entities(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    html = '😀 <b>bold</b> &amp; <a href="https://example.org/x?a=1&amp;b=2">link</a> a&b'

    async def scenario() -> Message:
        async with make_bot() as bot:
            return await bot.send_message(USER, html, parse_mode="HTML")

    message = run(scenario)
    assert message.text == "😀 bold & link a&b"
    assert list(message.parse_entities().items()) == [
        (MessageEntity(MessageEntity.BOLD, 3, 4), "bold"),
        (MessageEntity(MessageEntity.TEXT_LINK, 10, 4), "link"),
    ]
    assert message.entities[1].url == "https://example.org/x?a=1&b=2"
    (record,) = core.sent(USER)
    assert (record.text, record.parse_mode) == ("😀 bold & link a&b", "HTML")
    stored = core.message(USER, record.message_id or 0)
    assert stored is not None and stored["text"] == "😀 bold & link a&b"


def test_broken_html_is_refused_the_way_telegram_words_it(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    async def scenario() -> None:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "<i>fine</i>", parse_mode="HTML")
            # PTB drops "Bad Request: " and capitalize()s the rest, hence (?i).
            unclosed = r'(?i)^can\'t parse entities: can\'t find end tag .* start tag "b"$'
            with pytest.raises(BadRequest, match=unclosed):
                await bot.send_message(USER, "<b>unclosed", parse_mode="HTML")
            # The offset counts UTF-8 bytes: the emoji is four of them.
            unknown = r'(?i)unsupported start tag "foo" at byte offset 7$'
            with pytest.raises(BadRequest, match=unknown):
                await bot.edit_message_text(
                    "😀 a <foo>", chat_id=USER, message_id=sent.id, parse_mode="HTML"
                )

    run(scenario)
    assert [r.kind for r in core.sent(USER)] == ["message"]


@pytest.mark.parametrize(
    ("html", "detail"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("ends with <", "Unclosed start tag at byte offset 10"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
    ],
)
def test_html_errors(core: BotApiCore, html: str, detail: str) -> None:
    assert _send(core, html, parse_mode="HTML") == (
        400,
        {"ok": False, "error_code": 400, "description": PARSE_ERROR + detail},
    )


def test_the_whole_html_subset_is_accepted(core: BotApiCore) -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        '<strike>k</strike><del>d</del><span class="tg-spoiler">p</span>'
        '<tg-spoiler>q</tg-spoiler><code>c</code><pre><code class="language-py">x=1</code>'
        '</pre><blockquote expandable>quote</blockquote><tg-emoji emoji-id="5368324170671202286">'
        "👍</tg-emoji>&lt;&gt;&quot;&#65;&#x42;"
    )
    status, body = _send(core, html, parse_mode="html")
    assert status == 200
    assert body["result"]["text"] == 'bsieunskdpqcx=1quote👍<>"AB'
    kinds = [(e["type"], e.get("language")) for e in body["result"]["entities"]]
    assert kinds == [
        ("bold", None), ("bold", None), ("italic", None), ("italic", None),
        ("underline", None), ("underline", None), ("strikethrough", None),
        ("strikethrough", None), ("strikethrough", None), ("spoiler", None),
        ("spoiler", None), ("code", None), ("pre", "py"), ("expandable_blockquote", None),
        ("custom_emoji", None),
    ]  # fmt: skip


def test_the_4096_limit_applies_to_the_text_without_markup(core: BotApiCore) -> None:
    assert _send(core, f"<b>{'x' * 4096}</b>", parse_mode="HTML")[0] == 200
    too_long = _send(core, f"<b>{'😀' * 2048}x</b>", parse_mode="HTML")
    assert too_long[1]["description"] == "Bad Request: message is too long"
    empty = _send(core, "<b> </b>", parse_mode="HTML")
    assert empty[1]["description"] == "Bad Request: message text is empty"


def test_markdown_v2_reserved_characters_must_be_escaped(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    async def scenario() -> Message:
        async with make_bot() as bot:
            with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
                await bot.send_message(USER, "Version 1.0", parse_mode="MarkdownV2")
            return await bot.send_message(
                USER, "Version 1\\.0 is *out* \\(finally\\)", parse_mode="MarkdownV2"
            )

    message = run(scenario)
    assert message.text == "Version 1.0 is out (finally)"
    assert list(message.parse_entities().values()) == ["out"]


@pytest.mark.parametrize(
    ("markdown", "detail"),
    [
        ("Version 1.0", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("a - b", "Character '-' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("😀 _it", "Can't find end of Italic entity at byte offset 5"),
        ("`code", "Can't find end of Code entity at byte offset 0"),
        ("[link](https://x.org", "Can't find end of a URL at byte offset 7"),
    ],
)
def test_markdown_v2_errors(core: BotApiCore, markdown: str, detail: str) -> None:
    status, body = _send(core, markdown, parse_mode="MarkdownV2")
    assert (status, body["description"]) == (400, PARSE_ERROR + detail)


def test_markdown_v2_code_only_needs_backticks_and_backslashes_escaped(core: BotApiCore) -> None:
    status, body = _send(core, "run `a.b(c) - d!` or ```py\nx = [1]\n```", parse_mode="MarkdownV2")
    assert status == 200
    assert body["result"]["text"] == "run a.b(c) - d! or x = [1]\n"
    assert [(e["type"], e.get("language")) for e in body["result"]["entities"]] == [
        ("code", None), ("pre", "py"),
    ]  # fmt: skip


def test_explicit_entities_must_fit_the_text_in_utf16_units(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    async def scenario() -> Message:
        async with make_bot() as bot:
            beyond = r"(?i)ends after the end of the text at utf-16 offset 5$"
            with pytest.raises(BadRequest, match=beyond):
                await bot.send_message(USER, "😀ab", entities=[MessageEntity("bold", 0, 5)])
            return await bot.send_message(USER, "😀ab", entities=[MessageEntity("bold", 2, 2)])

    message = run(scenario)
    assert list(message.parse_entities().values()) == ["ab"]


def test_explicit_entities_win_over_parse_mode(core: BotApiCore) -> None:
    entities = '[{"type": "italic", "offset": 0, "length": 3}]'
    status, body = _send(core, "<b>x</b>", parse_mode="HTML", entities=entities)
    assert status == 200
    assert body["result"]["text"] == "<b>x</b>"
    assert body["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    bad = _send(core, "x", entities='[{"type": "sparkle", "offset": 0, "length": 1}]')
    assert bad[1]["description"] == (
        "Bad Request: can't parse MessageEntity: Unsupported type specified"
    )
    negative = _send(core, "x", entities='[{"type": "bold", "offset": -1, "length": 1}]')
    assert negative[1]["description"] == "Bad Request: receive an entity with incorrect offset -1"


def test_plain_text_is_kept_verbatim_and_unknown_modes_are_refused(core: BotApiCore) -> None:
    assert _send(core, "<b>not html</b> 1.0")[1]["result"]["text"] == "<b>not html</b> 1.0"
    assert _send(core, "x", parse_mode="BBCode")[1]["description"] == (
        "Bad Request: unsupported parse_mode"
    )


def test_editing_to_the_same_formatted_text_is_not_modified(core: BotApiCore) -> None:
    _send(core, "<b>same</b>", parse_mode="HTML")
    status, body = core.dispatch(
        TOKEN,
        "editMessageText",
        {"chat_id": USER, "message_id": 2, "text": "<strong>same</strong>", "parse_mode": "HTML"},
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified")
    plain = {"chat_id": USER, "message_id": 2, "text": "same"}
    assert core.dispatch(TOKEN, "editMessageText", plain)[0] == 200
    # Same text, formatting dropped: that is a modification, and the entities go.
    stored = core.message(USER, 2)
    assert stored is not None
    assert stored["text"] == "same"
    assert "entities" not in stored
