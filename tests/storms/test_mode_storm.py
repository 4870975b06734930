"""Chats that talk while Claude works, in every queue mode, many at once.

Each chat sends a message, then two more while its turn is waiting or running. Whatever
the mode, every message must end in exactly one of two ways: a reply of its own, or
taken into a turn that answers an earlier one (👌: steer and interrupt take it into
the running turn, collect merges it into the next). The
brains must see every message's text exactly once (none lost, none run twice), in the
chat's order, and the journal must owe nothing once the storm is over. The seed
orders the chats in each round, spaces the rounds and picks the words.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.conftest import BotApi
from wakeful.testing.bot_api import RateLimits

CHATS = 30
CAP = 4
WORDS = ["ok", "and then?", "ünïcödé", "中文 😀", "**bold**", "wait", "🇫🇷"]


def _brain_saw(prompts: Path) -> list[str]:
    """Every text a brain was given, split back into the chat's messages."""
    seen: list[str] = []
    for line in prompts.read_text().splitlines():
        # collect merges messages into one prompt, a paragraph each
        seen += json.loads(line)["prompt"].split("\n\n")
    return seen


def _settled(bot_api: BotApi, chat: int, message_id: int) -> bool:
    replied = any(r.kind == "message" and r.reply_to_message_id == message_id
                  for r in bot_api.core.sent(chat))
    return replied or _taken(bot_api, chat, message_id)


def _taken(bot_api: BotApi, chat: int, message_id: int) -> bool:
    return any(r.kind == "reaction" and r.message_id == message_id and r.reaction == ("👌",)
               for r in bot_api.core.sent(chat))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["steer", "interrupt", "collect", "queue"])
def test_follow_ups_in_a_storm_are_each_answered_or_taken_once_in_order(
    bot_api: BotApi, run_service, tmp_path: Path, storm_random: random.Random, mode: str
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    chats = [980_000 + n for n in range(CHATS)]
    bot_api.core.set_limits(RateLimits())
    svc = run_service(bot_api.config(chats, brain_delay=0.4, cap=CAP, mode=mode,
                                     env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)}))
    sent: list[tuple[int, int, str]] = []
    for n in range(3):
        for chat in storm_random.sample(chats, len(chats)):
            text = f"{mode} {chat} #{n} {storm_random.choice(WORDS)}"
            update = bot_api.core.inject_text(chat, text, user_id=chat)
            sent.append((chat, update["message"]["message_id"], text))
        # The next round lands while the first turns wait or run.
        time.sleep(storm_random.uniform(0.15, 0.45))

    assert bot_api.core.wait_for(
        lambda c: all(_settled(bot_api, chat, mid) for chat, mid, _ in sent), 240), \
        [(chat, text) for chat, mid, text in sent if not _settled(bot_api, chat, mid)]
    assert bot_api.core.wait_for(
        lambda c: all(svc.journal.owed(chat) == [] for chat in chats), 60), \
        {chat: svc.journal.owed(chat) for chat in chats if svc.journal.owed(chat)}

    seen = _brain_saw(prompts)
    texts = [text for _, _, text in sent]
    assert sorted(seen) == sorted(texts), "every message reached a brain exactly once"
    for chat in chats:
        mine = [t for t in seen if t.split()[1] == str(chat)]
        assert mine == [t for c, _, t in sent if c == chat], f"chat {chat} out of order"
    for chat, mid, text in sent:
        replied = any(r.kind == "message" and r.reply_to_message_id == mid
                      for r in bot_api.core.sent(chat))
        assert not (replied and _taken(bot_api, chat, mid)), f"{text}: answered twice"
        if mode == "queue":
            assert not _taken(bot_api, chat, mid), f"{text}: taken in {mode} mode"
    if mode == "queue":
        assert all(any(r.kind == "message" and r.reply_to_message_id == mid
                       for r in bot_api.core.sent(chat)) for chat, mid, _ in sent)
    else:
        # The point of the modes: fewer turns than messages when people talk mid-turn.
        assert len(prompts.read_text().splitlines()) <= len(sent)
    assert bot_api.core.throttled().total == 0
