"""The reactions a bot may set on a message, as setMessageReaction accepts them."""

from __future__ import annotations

from typing import Any

from telegram.constants import ReactionEmoji

from wakeful.testing.bot_api.errors import bad_request

# The Bot API accepts only this fixed palette; "❤️" with a variation selector is rejected,
# which is exactly the kind of bug a bridge should see in tests rather than in production.
_REACTION_EMOJI = frozenset(emoji.value for emoji in ReactionEmoji)


def parse_reaction(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise bad_request("can't parse reaction types JSON object")
    if len(raw) > 1:
        # Bots may set at most one reaction per message.
        raise bad_request("REACTIONS_TOO_MUCH")
    parsed: list[str] = []
    for item in raw:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "emoji" and item.get("emoji") in _REACTION_EMOJI:
            parsed.append(item["emoji"])
        elif kind == "custom_emoji" and str(item.get("custom_emoji_id", "")).isdigit():
            parsed.append(f"custom:{item['custom_emoji_id']}")
        elif kind == "paid":
            parsed.append("paid")
        else:
            raise bad_request("REACTION_INVALID")
    return tuple(parsed)
