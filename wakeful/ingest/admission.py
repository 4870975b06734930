"""Admission: the one decision about who gets in, made at the door for every update.

Pure: a parsed update and the policy in, a verdict out. The poller applies it before
anything is stored or routed, so a stranger's message never becomes work: no row in
the journal, no chat actor, no brain, nothing for a replay or a restart to find.
Constant time per update, whatever the number of strangers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wakeful.bots.updates import Addressing
from wakeful.messages import IncomingMessage

GROUP_TYPES = frozenset({"group", "supergroup"})


class GroupMessages(enum.StrEnum):
    """Which group messages count as meant for the bot."""

    # Every message Telegram delivers. With the bot's privacy mode on (the default for
    # bots), Telegram itself only delivers commands, mentions and replies to the bot.
    ALL = "all"
    # Only mentions of the bot, replies to its messages and commands, whatever the
    # privacy mode lets through.
    ADDRESSED = "addressed"


class Verdict(enum.Enum):
    ADMIT = "admit"  # becomes work: stored, acknowledged, answered
    REFUSE = "refuse"  # a stranger talking to the bot: at most one short refusal per window
    IGNORE = "ignore"  # not for us (channel posts, other bots, group chatter): silence


@dataclass(frozen=True)
class AccessPolicy:
    # Default deny: an empty policy admits nobody.
    user_ids: frozenset[int] = frozenset()
    # Chats whose every member is admitted (a team's group); empty: none.
    chat_ids: frozenset[int] = frozenset()
    group_messages: GroupMessages = GroupMessages.ALL


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str  # without the @

    def is_named(self, name: str) -> bool:
        return name.lower() == self.username.lower()


def admit(message: IncomingMessage, addressing: Addressing, policy: AccessPolicy,
          bot: BotIdentity) -> Verdict:
    target = addressing.command_target
    if target and not bot.is_named(target):
        # "/cmd@another_bot": another bot's business, in a group and (typed by hand) in
        # a private chat alike; it is never stored, acknowledged or answered.
        return Verdict.IGNORE
    if addressing.chat_type == "private":
        return Verdict.ADMIT if _allowed(message, policy) else Verdict.REFUSE
    if addressing.chat_type not in GROUP_TYPES or addressing.sender_is_bot:
        return Verdict.IGNORE
    if policy.group_messages is GroupMessages.ADDRESSED and not _addressed(addressing, bot):
        return Verdict.IGNORE
    return Verdict.ADMIT if _allowed(message, policy) else Verdict.REFUSE


def may_press(chat_id: int | None, user_id: int, policy: AccessPolicy) -> bool:
    """Whether this user's button presses count (tool approvals): the same people whose
    messages in that chat are admitted, whatever the group_messages setting."""
    return (chat_id is not None and chat_id in policy.chat_ids) or user_id in policy.user_ids


def _allowed(message: IncomingMessage, policy: AccessPolicy) -> bool:
    return message.chat_id in policy.chat_ids or (
        message.user_id is not None and message.user_id in policy.user_ids)


def _addressed(addressing: Addressing, bot: BotIdentity) -> bool:
    return (addressing.command_target is not None
            or any(bot.is_named(name) for name in addressing.mentions)
            or bot.id in addressing.mentioned_ids
            or addressing.reply_to_user_id == bot.id)


def refusal_text(user_id: int | None) -> str:
    return (f"⛔ This bot only answers people on its allowlist. Your Telegram user id is "
            f"{user_id}; the owner can add it to [telegram] allowed_user_ids.")
