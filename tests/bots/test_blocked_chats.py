"""Blocked chats: once a user blocks the bot, every call aimed at that chat answers 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from telegram.error import Forbidden

from tests.bots.harness import GROUP, TOKEN, USER, BotFactory, run
from wakeful.testing.bot_api import BotApiCore


def test_a_user_who_blocked_the_bot_refuses_every_call(
    make_bot: BotFactory, core: BotApiCore
) -> None:
    core.inject_text(USER, "hi")

    async def scenario() -> None:
        async with make_bot() as bot:
            sent = await bot.send_message(USER, "hello")
            core.block_chat(USER)
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: bot.send_message(USER, "still there?"),
                lambda: bot.edit_message_text("edited", chat_id=USER, message_id=sent.id),
                lambda: bot.set_message_reaction(USER, 1, "👍"),
                lambda: bot.send_chat_action(USER, "typing"),
                lambda: bot.send_message_draft(USER, 1, "thinking"),
            ]
            for call in calls:
                with pytest.raises(Forbidden, match=r"^Forbidden: bot was blocked by the user$"):
                    await call()
            core.unblock_chat(USER)
            await bot.send_message(USER, "welcome back")

    run(scenario)
    assert [r.text for r in core.sent(USER)] == ["hello", "welcome back"]


def test_groups_that_removed_the_bot_say_kicked(core: BotApiCore) -> None:
    core.inject_text(GROUP, "hi", user_id=7, chat_type="group")
    core.inject_text(GROUP - 1, "hi", user_id=7, chat_type="supergroup")
    core.block_chat(GROUP)
    core.block_chat(GROUP - 1)
    core.block_chat(USER + 1, description="Forbidden: user is deactivated")
    descriptions = [
        core.dispatch(TOKEN, "sendMessage", {"chat_id": chat, "text": "x"})[1]
        for chat in (GROUP, GROUP - 1, USER + 1)
    ]
    assert descriptions == [
        {"ok": False, "error_code": 403,
         "description": "Forbidden: bot was kicked from the group chat"},
        {"ok": False, "error_code": 403,
         "description": "Forbidden: bot was kicked from the supergroup chat"},
        {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"},
    ]  # fmt: skip
