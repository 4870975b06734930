"""Driving a tool-approval question from the Telegram side: find the question, press
its buttons, read the answers (shared by the approval tests of every brain and runner)."""

from __future__ import annotations

from typing import Any

from tests.conftest import BotApi

QUESTION = "🔐 Claude wants to run a tool:"
WAIT = 20.0


def questions_in(bot_api: BotApi, chat_id: int) -> list[Any]:
    return [r for r in bot_api.core.sent(chat_id)
            if r.kind == "message" and (r.text or "").startswith(QUESTION)]


def wait_question(bot_api: BotApi, chat_id: int, count: int = 1) -> Any:
    assert bot_api.core.wait_for(lambda c: len(questions_in(bot_api, chat_id)) >= count, WAIT), \
        f"no approval question in chat {chat_id}: {bot_api.core.sent(chat_id)}"
    return questions_in(bot_api, chat_id)[count - 1]


def buttons(bot_api: BotApi, chat_id: int, message_id: int) -> dict[str, str]:
    message = bot_api.core.message(chat_id, message_id)
    assert message is not None
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def press(bot_api: BotApi, chat_id: int, message_id: int, label: str,
           user_id: int | None = None) -> str:
    data = buttons(bot_api, chat_id, message_id)[label]
    update = bot_api.core.inject_callback_query(chat_id, message_id, data, user_id=user_id,
                                                first_name="Ann")
    return str(update["callback_query"]["id"])


def answer_to(bot_api: BotApi, query_id: str) -> Any:
    found: list[Any] = []

    def answered(core: Any) -> bool:
        found[:] = [a for a in core.callback_answers() if a.callback_query_id == query_id]
        return bool(found)

    assert bot_api.core.wait_for(answered, WAIT), f"callback {query_id} was never answered"
    return found[0]


def final_text(bot_api: BotApi, chat_id: int, message_id: int, start: str) -> dict[str, Any]:
    def shown(core: Any) -> bool:
        message = core.message(chat_id, message_id)
        return bool(message and message["text"].endswith(start))

    assert bot_api.core.wait_for(shown, WAIT), bot_api.core.message(chat_id, message_id)
    message = bot_api.core.message(chat_id, message_id)
    assert message is not None
    return message


def answers(bot_api: BotApi, chat_id: int) -> list[str]:
    return [r.text for r in bot_api.replies(chat_id) if not (r.text or "").startswith(QUESTION)]


def wait_answers(bot_api: BotApi, chat_id: int, count: int) -> list[str]:
    assert bot_api.core.wait_for(lambda c: len(answers(bot_api, chat_id)) >= count, WAIT), \
        bot_api.core.sent(chat_id)
    return answers(bot_api, chat_id)
