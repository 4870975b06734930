"""Directory names of the actors that are addressed by what they serve."""

from __future__ import annotations


def chat_address(chat_id: int) -> str:
    return f"chat:{chat_id}"
