"""Who a command is for, and who wrote a message, as the door reads them from the update."""

from __future__ import annotations

import pytest

from wakeful.bots.updates import Addressing, parse_update
from wakeful.ingest.admission import AccessPolicy, BotIdentity, Verdict, admit
from wakeful.messages import IncomingMessage

BOT = BotIdentity(id=999, username="Wakeful_Bot")
OWNER, STRANGER = 1, 3
POLICY = AccessPolicy(user_ids=frozenset({OWNER}))


def _message(user: int, chat: int, text: str) -> IncomingMessage:
    return IncomingMessage(1, chat, 1, user, text, 0.0)


@pytest.mark.parametrize("chat_type", ["private", "group", "supergroup"])
def test_a_command_for_another_bot_is_ignored_wherever_it_is_typed(chat_type: str) -> None:
    chat = OWNER if chat_type == "private" else -100
    other = Addressing(chat_type=chat_type, command_target="other_bot")
    assert admit(_message(OWNER, chat, "/help@other_bot"), other, POLICY, BOT) is Verdict.IGNORE
    # Not even a refusal for a stranger: it was never meant for us.
    assert admit(_message(STRANGER, chat, "/help@other_bot"), other, POLICY,
                 BOT) is Verdict.IGNORE
    ours = Addressing(chat_type=chat_type, command_target="wakeful_bot")
    assert admit(_message(OWNER, chat, "/help@wakeful_bot"), ours, POLICY, BOT) is Verdict.ADMIT


def _update(sender: dict[str, object], chat_type: str = "group") -> dict[str, object]:
    return {"update_id": 5, "message": {
        "message_id": 1, "chat": {"id": -100, "type": chat_type}, "from": sender,
        "text": "hi"}}


@pytest.mark.parametrize(("sender", "name"), [
    ({"id": 7, "is_bot": False, "first_name": "Alice", "username": "al"}, "Alice"),
    ({"id": 7, "is_bot": False, "first_name": "  Ann \n Lee ", "username": "al"}, "Ann Lee"),
    ({"id": 7, "is_bot": False, "first_name": "", "username": "al"}, "@al"),
    ({"id": 7, "is_bot": False}, None),
])
def test_the_sender_is_named_by_first_name_else_username(sender: dict[str, object],
                                                         name: str | None) -> None:
    parsed = parse_update(_update(sender), 0.0)
    assert parsed is not None and parsed.message.sender_name == name


def test_a_message_without_a_sender_has_no_name() -> None:
    update = _update({})
    del update["message"]["from"]  # type: ignore[attr-defined]
    parsed = parse_update(update, 0.0)
    assert parsed is not None and parsed.message.sender_name is None
