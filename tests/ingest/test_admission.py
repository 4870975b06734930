"""Admission at the door: who gets in, decided from the update alone, the same everywhere."""

from __future__ import annotations

import pytest

from wakeful.bots.updates import Addressing, parse_update
from wakeful.ingest.admission import (
    AccessPolicy,
    BotIdentity,
    GroupMessages,
    Verdict,
    admit,
)
from wakeful.messages import IncomingMessage

BOT = BotIdentity(id=999, username="Wakeful_Bot")
OWNER, FRIEND, STRANGER = 1, 2, 3
GROUP = -100


def message(user: int, chat: int, text: str = "hi") -> IncomingMessage:
    return IncomingMessage(1, chat, 1, user, text, 0.0)


def group(**fields: object) -> Addressing:
    return Addressing(chat_type="supergroup", **fields)  # type: ignore[arg-type]


POLICY = AccessPolicy(user_ids=frozenset({OWNER, FRIEND}))


def test_private_chats_admit_allowed_users_and_refuse_strangers() -> None:
    private = Addressing(chat_type="private")
    assert admit(message(OWNER, OWNER), private, POLICY, BOT) is Verdict.ADMIT
    assert admit(message(STRANGER, STRANGER), private, POLICY, BOT) is Verdict.REFUSE


def test_an_empty_policy_admits_nobody() -> None:
    private = Addressing(chat_type="private")
    assert admit(message(OWNER, OWNER), private, AccessPolicy(), BOT) is Verdict.REFUSE


def test_in_a_group_the_sender_counts_not_the_chat() -> None:
    assert admit(message(OWNER, GROUP), group(), POLICY, BOT) is Verdict.ADMIT
    assert admit(message(STRANGER, GROUP), group(), POLICY, BOT) is Verdict.REFUSE


def test_an_allowed_chat_admits_all_its_members() -> None:
    team = AccessPolicy(chat_ids=frozenset({GROUP}))
    assert admit(message(STRANGER, GROUP), group(), team, BOT) is Verdict.ADMIT
    assert admit(message(STRANGER, -200), group(), team, BOT) is Verdict.REFUSE


@pytest.mark.parametrize(("addressing", "verdict"), [
    (group(), Verdict.IGNORE),
    (group(mentions=frozenset({"wakeful_bot"})), Verdict.ADMIT),
    (group(mentions=frozenset({"someone_else"})), Verdict.IGNORE),
    (group(mentioned_ids=frozenset({999})), Verdict.ADMIT),
    (group(reply_to_user_id=999), Verdict.ADMIT),
    (group(reply_to_user_id=FRIEND), Verdict.IGNORE),
    (group(command_target=""), Verdict.ADMIT),
    (group(command_target="wakeful_bot"), Verdict.ADMIT),
])
def test_addressed_mode_admits_only_what_is_meant_for_the_bot(
    addressing: Addressing, verdict: Verdict
) -> None:
    policy = AccessPolicy(user_ids=frozenset({OWNER}), group_messages=GroupMessages.ADDRESSED)
    assert admit(message(OWNER, GROUP), addressing, policy, BOT) is verdict


def test_a_stranger_who_does_not_address_the_bot_is_not_even_refused() -> None:
    policy = AccessPolicy(user_ids=frozenset({OWNER}), group_messages=GroupMessages.ADDRESSED)
    assert admit(message(STRANGER, GROUP), group(), policy, BOT) is Verdict.IGNORE
    mention = group(mentions=frozenset({"wakeful_bot"}))
    assert admit(message(STRANGER, GROUP), mention, policy, BOT) is Verdict.REFUSE


def test_commands_for_another_bot_other_bots_and_channels_are_ignored() -> None:
    assert admit(message(OWNER, GROUP), group(command_target="other_bot"), POLICY,
                 BOT) is Verdict.IGNORE
    assert admit(message(OWNER, GROUP), group(sender_is_bot=True), POLICY,
                 BOT) is Verdict.IGNORE
    assert admit(message(OWNER, GROUP), Addressing(chat_type="channel"), POLICY,
                 BOT) is Verdict.IGNORE


def test_addressing_is_read_from_telegrams_entities_in_utf16_units() -> None:
    text = "😀 hey @Wakeful_Bot, look"  # the emoji is two UTF-16 units
    raw = {"update_id": 5, "message": {
        "message_id": 3, "chat": {"id": GROUP, "type": "group"},
        "from": {"id": OWNER, "is_bot": False}, "text": text,
        "entities": [{"type": "mention", "offset": 7, "length": 12}],
        "reply_to_message": {"message_id": 2, "from": {"id": 999, "is_bot": True}}}}
    parsed = parse_update(raw, 0.0)
    assert parsed is not None
    assert parsed.addressing == Addressing(
        chat_type="group", mentions=frozenset({"wakeful_bot"}), reply_to_user_id=999)
    command = {"update_id": 6, "message": {
        "message_id": 4, "chat": {"id": GROUP, "type": "group"}, "from": {"id": OWNER},
        "text": "/status@Other_Bot now"}}
    parsed = parse_update(command, 0.0)
    assert parsed is not None and parsed.addressing.command_target == "other_bot"
