"""Claude's Markdown becomes Telegram messages that fit, lose nothing and keep formatting."""

from __future__ import annotations

import pickle
import random
from itertools import pairwise

import pytest

from wakeful.delivery.render import (
    TELEGRAM_LIMIT,
    Entity,
    Part,
    render_markdown,
    render_plain,
    utf16_len,
)

UNSPLIT = 10**9  # a limit no test text reaches: the whole converted answer in one part


def whole(markdown: str) -> Part:
    [part] = render_markdown(markdown, UNSPLIT)
    return part


def clip(entity: Entity, lo: int, hi: int) -> Entity | None:
    start, end = max(entity.offset, lo), min(entity.offset + entity.length, hi)
    if start >= end:
        return None
    return Entity(entity.type, start - lo, end - start, entity.url, entity.language)


def assert_carries(parts: list[Part], text: str, entities: tuple[Entity, ...], limit: int,
                   *, exact: bool = True) -> None:
    """Every part fits and shows something; together they are the text and its formatting.

    exact=False allows the one loss render documents, whitespace no part can carry: a
    blank stretch of at least a whole message, or blank lines after the last word.
    """
    pos = at = 0  # where the next part should start, in characters and in UTF-16 units
    for part in parts:
        index = text.index(part.text, pos)
        skipped = text[pos:index]
        assert not skipped or (not exact and not skipped.strip() and len(skipped) >= limit)
        at += utf16_len(skipped)
        size = utf16_len(part.text)
        assert size <= limit
        assert part.text.strip(), "Telegram refuses a blank message"
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in part.text), "half a surrogate pair"
        for e in part.entities:
            assert e.offset >= 0 and e.length > 0 and e.offset + e.length <= size
        expected = [c for e in entities if (c := clip(e, at, at + size)) is not None]
        assert sorted(part.entities, key=repr) == sorted(expected, key=repr)
        pos, at = index + len(part.text), at + size
    rest = text[pos:]
    assert not rest if exact else not rest.strip(), "nothing dropped, nothing added"


def assert_markdown_carried(markdown: str, limit: int = TELEGRAM_LIMIT) -> list[Part]:
    parts = render_markdown(markdown, limit)
    one = whole(markdown)
    assert_carries(parts, one.text, one.entities, limit)
    return parts


# --- A long answer ------------------------------------------------------------------------

def long_answer() -> str:
    rng = random.Random(20_000)
    words = ["hello", "wakeful", "数据", "世界", "😀", "🚀", "テスト", "**bold**", "`x_y`",
             "[link](https://example.com)", "2*3=6", "中文字符", "👍🏽"]
    blocks: list[str] = []
    while sum(len(block) for block in blocks) < 20_000:
        if len(blocks) == 3:  # one block longer than a whole message
            lines = [f"    total += '🚀😀'  # 合計 {i}" for i in range(220)]
            blocks.append("```python\n" + "\n".join(lines) + "\n```")
        elif rng.random() < 0.2:
            lines = [f"print('{rng.choice(words)}', {i})" for i in range(rng.randint(2, 40))]
            blocks.append("```python\n" + "\n".join(lines) + "\n```")
        else:
            lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 25)))
                     for _ in range(rng.randint(1, 4))]
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def test_a_20000_character_answer_with_emoji_cjk_and_code_fits_in_telegram_messages() -> None:
    markdown = long_answer()
    assert len(markdown) >= 20_000
    parts = assert_markdown_carried(markdown)
    assert len(parts) >= 5
    assert any(utf16_len(part.text) > len(part.text) for part in parts), "emoji cost 2 units"


def test_a_code_block_longer_than_a_message_is_reopened_with_its_language() -> None:
    parts = assert_markdown_carried(long_answer())

    def ends_in_python(part: Part) -> bool:
        size = utf16_len(part.text)
        return any(e.type == "pre" and e.language == "python" and e.offset + e.length == size
                   for e in part.entities)

    def starts_in_python(part: Part) -> bool:
        return any(e.type == "pre" and e.language == "python" and e.offset == 0
                   for e in part.entities)

    assert any(ends_in_python(a) and starts_in_python(b) for a, b in pairwise(parts))


def test_a_code_block_split_many_times_is_code_in_every_part() -> None:
    code = "\n".join(f"x{i} = {i}  # 😀" for i in range(60))
    parts = assert_markdown_carried(f"```python\n{code}\n```", limit=100)
    assert len(parts) > 3
    for part in parts:
        assert part.entities == (Entity("pre", 0, utf16_len(part.text), language="python"),)


# --- Where a message ends -----------------------------------------------------------------

def test_a_paragraph_break_is_chosen_over_a_later_line_break() -> None:
    text = "a" * 20 + "\n\n" + "b" * 10 + "\n" + "c" * 20
    parts = render_plain(text, 40)
    assert [p.text for p in parts] == ["a" * 20 + "\n\n", "b" * 10 + "\n" + "c" * 20]


def test_a_line_break_is_chosen_over_a_later_space() -> None:
    text = "a" * 22 + "\n" + "b" * 8 + " " + "c" * 20
    assert [p.text for p in render_plain(text, 40)] == ["a" * 22 + "\n", "b" * 8 + " " + "c" * 20]


def test_a_space_is_chosen_over_cutting_a_word() -> None:
    text = "a" * 25 + " " + "b" * 30
    assert [p.text for p in render_plain(text, 40)] == ["a" * 25 + " ", "b" * 30]


def test_a_word_is_cut_only_when_there_is_no_space() -> None:
    assert [p.text for p in render_plain("x" * 100, 40)] == ["x" * 40, "x" * 40, "x" * 20]


def test_a_break_early_in_the_message_is_passed_over_for_a_fuller_one() -> None:
    text = "a\n\n" + "b" * 30 + " " + "c" * 30
    assert render_plain(text, 40)[0].text == "a\n\n" + "b" * 30 + " "


def test_a_message_ends_after_the_whole_run_of_blank_lines() -> None:
    text = "a" * 20 + "\n\n\n\n" + "b" * 30
    assert render_plain(text, 40)[0].text == "a" * 20 + "\n\n\n\n"


@pytest.mark.parametrize("limit", [7, 8, 9, 41])
def test_an_emoji_is_never_cut_in_half(limit: int) -> None:
    text = "a" + "😀" * 50  # odd offsets: a 2-unit emoji straddles every even limit
    parts = render_plain(text, limit)
    assert_carries(parts, text, (), limit)


def test_joined_emoji_flags_and_accents_stay_whole_when_a_word_is_cut() -> None:
    family, flag, accented = "👨\u200d👩\u200d👧", "🇩🇪", "e\u0301"
    for unit in (family, flag, accented, "👍🏽"):
        text = "x" + unit * 30
        for part in render_plain(text, 16):
            assert part.text.removeprefix("x").replace(unit, "") == ""


# --- No blank messages --------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\n", "\t \n"])
def test_an_empty_answer_is_said_to_be_empty(text: str) -> None:
    assert render_plain(text) == [Part("(empty answer)")]
    assert render_markdown(text) == [Part("(empty answer)")]


def test_blank_lines_at_a_break_ride_along_with_visible_text() -> None:
    text = "a" * 30 + "\n" * 30 + "b"
    parts = render_plain(text, 40)
    assert_carries(parts, text, (), 40)


def test_blank_lines_after_the_last_word_ride_along_when_there_is_a_break_for_them() -> None:
    text = "word " * 7 + "\n" * 10
    parts = render_plain(text, 40)
    assert [p.text for p in parts] == ["word " * 6, "word " + "\n" * 10]


def test_blank_lines_after_the_last_word_are_left_out_rather_than_cut_a_word_for() -> None:
    assert render_plain("a" * 38 + "\n" * 10, 40) == [Part("a" * 38 + "\n\n")]


def test_whitespace_longer_than_a_message_is_the_only_thing_ever_left_out() -> None:
    text = "a " + " " * 100 + "b" + "\n" * 100
    parts = render_plain(text, 10)
    assert [p.text.strip() for p in parts] == ["a", "b"]
    assert_carries(parts, text, (), 10, exact=False)


def test_a_markdown_answer_of_nothing_but_markup_is_shown_as_written() -> None:
    assert render_markdown("[x]: https://example.com") == [Part("[x]: https://example.com")]


# --- Nothing the brain wrote disappears ---------------------------------------------------

@pytest.mark.parametrize("text", [
    "echo: hello from the outside",
    "echo: answer [[linger]]",
    "echo: message 1 from chat 100001",
    "x_y_z",
    "2*3=6",
    "snake_case_name and x_y_z, 2*3=6 and 4*5=20",
    "a < b > c",
    "if a<b && c>d",
    "2**10 is 1024 and 3**4 is 81",
    "the __init__.py of the package",
    "a*b*c",
    "costs $5, or $x$ with $PATH/$HOME",
    "$$\n\\frac{a}{b} + x_1^*\n$$",
])
def test_plain_answers_come_out_exactly_as_written(text: str) -> None:
    assert render_markdown(text) == [Part(text)]


@pytest.mark.parametrize(("markdown", "shown"), [
    ("the <div> tag", "the <div> tag"),
    ("x <b> y", "x <b> y"),
    ("run it with <your-token> in place", "run it with <your-token> in place"),
    ("<b>bold</b>", "<b>bold</b>"),
    ("a<b and c>d", "a<b and c>d"),
    ("line<br/>next", "line<br/>next"),
    ("<br>", "<br>"),
    ("<!-- a comment -->\n\ntext", "<!-- a comment -->\n\ntext"),
    ("<div>\nhello\n</div>\n\nafter", "<div>\nhello\n</div>\n\nafter"),
    ("<tg-spoiler>secret</tg-spoiler>", "<tg-spoiler>secret</tg-spoiler>"),
    ("- <p>item</p>", "• <p>item</p>\n"),
])
def test_html_in_an_answer_is_shown_as_text(markdown: str, shown: str) -> None:
    assert render_markdown(markdown) == [Part(shown)]


def test_a_dollar_in_a_link_address_is_left_alone() -> None:
    [part] = render_markdown("see <https://example.com/$x> and [y](https://example.com/$y)")
    assert part.text == "see https://example.com/$x and y"
    assert part.entities == (Entity("text_link", 4, 22, url="https://example.com/$x"),
                             Entity("text_link", 31, 1, url="https://example.com/$y"))


def test_html_that_hid_a_code_fence_leaves_no_backslash_behind() -> None:
    [part] = render_markdown("<!--\n```\n-->\ntext <b> and $x$")
    assert part.text == "<!--\n-->\ntext <b> and $x$"


def test_double_pipes_stay_text_instead_of_hiding_paragraphs_as_a_spoiler() -> None:
    markdown = "use a || b here\n\nand c || d there"
    assert render_markdown(markdown) == [Part("use a || b here\n\nand c || d there")]


def test_code_blocks_and_inline_code_are_left_exactly_as_written() -> None:
    code = "<div>&amp; a || b</div>\nif a<b and c>d: pass"
    [part] = render_markdown(f"see `<b>x</b> || y`:\n\n```html\n{code}\n```")
    assert part.text == f"see <b>x</b> || y:\n\n{code}"
    assert part.entities == (Entity("code", 4, 13),
                             Entity("pre", 20, utf16_len(code), language="html"))


def test_markdown_formatting_still_works_around_the_kept_text() -> None:
    [part] = render_markdown("**bold** <i> `code`\n\n> quoted\n\n<https://example.com>")
    assert part.text == "bold <i> code\n\nquoted\n\nhttps://example.com"
    assert set(part.entities) == {
        Entity("bold", 0, 4), Entity("code", 9, 4), Entity("blockquote", 15, 6),
        Entity("text_link", 23, 19, url="https://example.com")}


def test_bold_between_cjk_characters_stays_bold() -> None:
    [part] = render_markdown("这是**重要**的内容")
    assert part == Part("这是重要的内容", (Entity("bold", 2, 2),))


def test_headings_are_bold_without_added_emoji_and_open_tasks_look_open() -> None:
    [part] = render_markdown("# Title\n\n- [ ] todo\n- [x] done\n- item")
    assert part.text == "Title\n\n⬜ todo\n✅ done\n• item\n"
    assert set(part.entities) == {Entity("bold", 0, 5), Entity("underline", 0, 5)}


# --- Parts --------------------------------------------------------------------------------

def test_plain_drops_the_formatting_and_keeps_the_text() -> None:
    part = Part("bold 😀 code", (Entity("bold", 0, 4), Entity("pre", 8, 4, language="py")))
    assert part.plain() == Part("bold 😀 code")


def test_parts_survive_pickling() -> None:
    parts = render_markdown("**a** [b](https://example.com) ```c```")
    assert pickle.loads(pickle.dumps(parts)) == parts


def test_a_limit_too_small_for_an_emoji_is_refused() -> None:
    with pytest.raises(ValueError):
        render_plain("😀", 1)


def test_utf16_len_counts_an_emoji_outside_the_bmp_as_two() -> None:
    assert utf16_len("a😀中") == 4


# --- Any answer ---------------------------------------------------------------------------

def random_answer(rng: random.Random) -> str:
    words = ["word", "x_y_z", "2*3=6", "$HOME", "$x$", "😀", "🚀", "👨\u200d👩\u200d👧", "🇯🇵",
             "漢字", "かな", "**b**", "_i_", "`c`", "<b>", "a||b", "[l](https://x.io)", "&amp;",
             "e\u0301"]
    out: list[str] = []
    for _ in range(rng.randint(1, 120)):
        if rng.random() < 0.08:
            body = "\n".join(" ".join(rng.choices(words, k=rng.randint(0, 12)))
                             for _ in range(rng.randint(1, 15)))
            out.append(f"\n\n```{rng.choice(['python', 'sh', ''])}\n{body}\n```\n\n")
        else:
            out.append(rng.choice(words) + rng.choice([" ", " ", " ", "\n", "\n\n", ""]))
    return "".join(out)


@pytest.mark.parametrize("seed", range(150))
def test_any_mix_of_words_emoji_lines_and_code_is_carried_whole(seed: int) -> None:
    rng = random.Random(seed)
    markdown, limit = random_answer(rng), rng.randint(8, 400)
    assert_markdown_carried(markdown, limit)
    shown = whole(markdown).text
    for literal in ("<b>", "a||b", "2*3=6", "x_y_z", "$"):
        assert shown.count(literal) == markdown.count(literal)
    plain = random_answer(rng)
    if plain.strip():
        assert_carries(render_plain(plain, limit), plain, (), limit)
