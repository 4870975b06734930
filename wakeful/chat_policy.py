"""Per-chat policy: the [chats] defaults with one chat's overrides applied.

`[chats.overrides."<chat_id>"]` tables in the config (docs/chat.md, "Budgets and
limits") may change how that chat's turns run (the brain keys) and what the chat
itself allows; everything not named falls back to [brain] and [chats]. The rest of
the code asks one question, `Config.chat_policy(chat_id)`, and never merges by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from wakeful.brain.config import BrainConfig

# How a message that arrives while a turn runs is handled (the chat decides; see docs/chat.md).
QUEUE_MODES = ("steer", "collect", "queue", "interrupt")


@dataclass(frozen=True)
class ChatOverride:
    """One `[chats.overrides."<chat_id>"]` table; None: not overridden."""

    # [brain] keys: how this chat's turns run.
    allowed_tools: tuple[str, ...] | None = None
    permission_mode: str | None = None
    model: str | None = None
    workdir: str | None = None  # may contain {chat_id}, like [brain] workdir
    # The chat's own keys.
    approvals: bool | None = None  # tool approvals over Telegram ([brain] approvals)
    mode: str | None = None  # one of QUEUE_MODES
    daily_budget_usd: float | None = None


_BRAIN_KEYS = ("allowed_tools", "permission_mode", "model", "workdir", "approvals")


@dataclass(frozen=True)
class ChatPolicy:
    chat_id: int
    brain: BrainConfig  # [brain] with this chat's overrides applied
    daily_budget_usd: float | None = None  # None: no budget
    approvals: bool = False
    mode: str | None = None  # None: the chat's default queue mode


def resolve(chat_id: int, brain: BrainConfig, daily_budget_usd: float | None,
            override: ChatOverride | None) -> ChatPolicy:
    if override is None:
        return ChatPolicy(chat_id, brain, daily_budget_usd, brain.approvals)
    changes: dict[str, Any] = {key: getattr(override, key) for key in _BRAIN_KEYS
                               if getattr(override, key) is not None}
    resolved = replace(brain, **changes) if changes else brain
    return ChatPolicy(
        chat_id,
        resolved,
        daily_budget_usd if override.daily_budget_usd is None else override.daily_budget_usd,
        resolved.approvals,  # the brain's command line and the chat must agree
        override.mode,
    )
