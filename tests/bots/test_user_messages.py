"""What users send, shaped the way Telegram delivers it: replies, mentions, media."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram import Message, MessageEntity, Update

from tests.bots.harness import BOT_ID, GROUP, USER, BotFactory, run
from wakeful.testing.bot_api import BotApiCore, Document, Photo, Sticker, Voice


async def _messages(make_bot: BotFactory) -> list[Message]:
    async with make_bot() as bot:
        updates: tuple[Update, ...] = await bot.get_updates(timeout=0)
    messages = [update.message for update in updates]
    assert all(message is not None for message in messages)
    return [message for message in messages if message is not None]


def test_a_reply_to_the_bot_in_a_group_quotes_the_bots_message(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    core.inject_text(GROUP, "/ask@wakeful_test_bot what's up?", user_id=7, chat_type="group")

    async def answer() -> Message:
        async with make_bot() as bot:
            return await bot.send_message(GROUP, "all quiet")

    answered = run(answer)
    core.inject_text(GROUP, "thanks!", 8, "Bo", "group", reply_to_message_id=answered.id)

    async def scenario() -> list[Message]:
        return await _messages(make_bot)

    _question, reply = run(scenario)
    assert reply.chat.type == "group"
    assert reply.from_user is not None
    assert (reply.from_user.id, reply.from_user.first_name) == (8, "Bo")
    quoted = reply.reply_to_message
    assert quoted is not None
    assert (quoted.message_id, quoted.text) == (answered.id, "all quiet")
    assert quoted.from_user is not None
    assert (quoted.from_user.id, quoted.from_user.is_bot) == (BOT_ID, True)


def test_mentions_and_commands_get_entities_at_utf16_offsets(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    # The emoji takes two UTF-16 units: a code-point offset would be off by one.
    text = "😀 hey @wakeful_test_bot, ask @ab and /help@wakeful_test_bot or /tmp/x"
    core.inject_text(GROUP, text, user_id=7, chat_type="supergroup")

    (message,) = run(lambda: _messages(make_bot))
    assert list(message.parse_entities().items()) == [
        (MessageEntity(MessageEntity.MENTION, 7, 17), "@wakeful_test_bot"),
        (MessageEntity(MessageEntity.BOT_COMMAND, 38, 22), "/help@wakeful_test_bot"),
    ]


def test_inject_text_keeps_its_positional_signature(core: BotApiCore) -> None:
    update = core.inject_text(GROUP, "/start, please", 7, "Ada", "group")
    message = update["message"]
    assert (message["from"]["first_name"], message["chat"]["type"]) == ("Ada", "group")
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert "reply_to_message" not in message


def test_a_reply_to_a_message_that_does_not_exist_is_a_test_error(core: BotApiCore) -> None:
    core.inject_text(USER, "first")
    with pytest.raises(ValueError, match="no message 9"):
        core.inject_text(USER, "re: nothing", reply_to_message_id=9)
    assert core.pending_update_ids() == [1]


def test_photos_documents_stickers_and_voice_arrive_as_ptb_objects(
    make_bot: BotFactory, core: BotApiCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # durations as timedelta, without a warning
    core.inject_message(USER, Photo(caption="look @wakeful_test_bot", width=1600, height=1200))
    core.inject_message(USER, Document("report.pdf", "application/pdf", 52_000, caption="pdf"))
    core.inject_message(GROUP, Sticker("🔥"), user_id=7, chat_type="group")
    core.inject_message(USER, Voice(duration=12), reply_to_message_id=1)

    photo, document, sticker, voice = run(lambda: _messages(make_bot))
    assert [(size.width, size.height) for size in photo.photo] == [
        (90, 68), (320, 240), (800, 600), (1280, 960), (1600, 1200),
    ]  # fmt: skip
    assert photo.caption == "look @wakeful_test_bot"
    assert list(photo.parse_caption_entities().values()) == ["@wakeful_test_bot"]
    assert photo.text is None
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == (
        "report.pdf", "application/pdf",
    )  # fmt: skip
    assert document.caption == "pdf"
    assert sticker.sticker is not None
    assert (sticker.sticker.emoji, sticker.chat.type) == ("🔥", "group")
    assert voice.voice is not None
    assert voice.voice.duration == dtm.timedelta(seconds=12)
    assert voice.reply_to_message is not None
    assert voice.reply_to_message.photo
    # Every file gets ids of its own, as Telegram's would.
    file_ids = [size.file_id for size in photo.photo] + [
        document.document.file_id, sticker.sticker.file_id, voice.voice.file_id,
    ]  # fmt: skip
    assert len(set(file_ids)) == len(file_ids)


def test_raw_fields_can_make_any_other_message(core: BotApiCore) -> None:
    location = {"location": {"latitude": 52.37, "longitude": 4.9}}
    message = core.inject_message(USER, location)["message"]
    assert message["location"] == location["location"]
    assert "text" not in message
