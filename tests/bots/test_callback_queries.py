"""Inline buttons on the local Bot API, through the real PTB client: a keyboard stays on
its message, a press arrives as a callback_query, answers and markup edits are kept."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from tests.bots.harness import USER, BotFactory, run
from wakeful.bots.updates import MalformedUpdate, parse_callback_query, parse_update
from wakeful.messages import ButtonPressed
from wakeful.testing.bot_api import BotApiCore

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Allow once", callback_data="ap:x:o"),
                                  InlineKeyboardButton("Deny", callback_data="ap:x:d")]])


def test_a_pressed_button_arrives_as_a_callback_query_and_its_answer_is_recorded(
        make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "hi")

    async def scenario() -> None:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "Allow it?", reply_markup=KEYBOARD)
            assert sent.reply_markup == KEYBOARD
            stored = core.message(USER, sent.message_id)
            assert stored is not None
            assert stored["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "ap:x:d"
            update = core.inject_callback_query(USER, sent.message_id, "ap:x:d", first_name="Ann")
            updates = await bot.get_updates(offset=update["update_id"], timeout=0,
                                            allowed_updates=["message", "callback_query"])
            [got] = updates
            assert got.callback_query is not None
            assert got.callback_query.data == "ap:x:d"
            assert got.callback_query.message.message_id == sent.message_id
            assert got.callback_query.from_user.id == USER
            assert await bot.answer_callback_query(got.callback_query.id, text="❌ denied")
            # Telegram forgets a query once it is answered.
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await bot.answer_callback_query(got.callback_query.id)
            # The buttons go away with an edit of the markup alone...
            edited = await bot.edit_message_reply_markup(USER, sent.message_id)
            assert edited.reply_markup is None or not edited.reply_markup.inline_keyboard
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(USER, sent.message_id)
            # ...or with an edit of the text that names no keyboard.
            again = await bot.send_message(USER, "Allow it?", reply_markup=KEYBOARD)
            await bot.edit_message_text("✅ allowed", USER, again.message_id)
            assert "reply_markup" not in (core.message(USER, again.message_id) or {})

    run(scenario)
    [answer] = core.callback_answers()
    assert (answer.chat_id, answer.user_id, answer.data, answer.text, answer.show_alert) == (
        USER, USER, "ap:x:d", "❌ denied", False)


def test_callback_queries_are_only_delivered_to_a_bot_that_asks_for_them(
        make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(USER, "hi")

    async def scenario() -> None:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "Allow it?", reply_markup=KEYBOARD)
            core.inject_callback_query(USER, sent.message_id, "ap:x:o")
            only_messages = await bot.get_updates(timeout=0, allowed_updates=["message"])
            assert all(u.callback_query is None for u in only_messages)

    run(scenario)


def test_parsing_a_callback_query_update() -> None:
    raw = {"update_id": 9, "callback_query": {
        "id": "q1", "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 3, "chat": {"id": -100, "type": "group"}},
        "chat_instance": "1", "data": "ap:x:o"}}
    parsed = parse_callback_query(raw)
    assert parsed is not None
    assert parsed.press == ButtonPressed(-100, 3, 5, "q1", "ap:x:o", "Ann")
    assert parsed.chat_type == "group"
    assert parse_update(raw, 0.0) is None  # not a message
    assert parse_callback_query({"update_id": 1, "message": {}}) is None
    # Without a message or data it cannot be routed, but it can (and must) be answered.
    no_message = parse_callback_query({"update_id": 2, "callback_query": {
        "id": "q2", "from": {"id": 5}, "data": "x"}})
    assert no_message is not None and no_message.press is None and no_message.query_id == "q2"
    for broken in ({"update_id": 3, "callback_query": "x"},
                   {"update_id": 3, "callback_query": {"from": {"id": 5}}},
                   {"update_id": 3, "callback_query": {"id": "q", "from": "me"}}):
        with pytest.raises(MalformedUpdate):
            parse_callback_query(broken)
