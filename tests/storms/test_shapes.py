"""Storm shapes besides "many chats, few messages": bursts, one chatty user among quiet
ones, and huge unicode messages. Real HTTP, the local Bot API server enforcing Telegram's
limits, stand-in brains. The seed interleaves the writers (each chat's own messages stay
in its order) and composes the huge message."""

from __future__ import annotations

import random
import time

import pytest

from tests.conftest import BotApi
from tests.storms import invariants
from wakeful.delivery.render import TELEGRAM_LIMIT, utf16_len
from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import RateLimits


def _say(bot_api: BotApi, chat: int, text: str) -> UserMessage:
    update = bot_api.core.inject_text(chat, text, user_id=chat)
    return UserMessage(chat, update["message"]["message_id"], text, time.monotonic())


def _interleaved(rng: random.Random, *writers: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The writers' messages merged in a seeded order, each writer's own order kept."""
    slots = [n for n, messages in enumerate(writers) for _ in messages]
    rng.shuffle(slots)
    queues = [iter(messages) for messages in writers]
    return [next(queues[n]) for n in slots]


def _answered(bot_api: BotApi, sent: list[UserMessage], timeout: float) -> bool:
    def done(core: object) -> bool:
        return all(any(r.kind == "message" and r.reply_to_message_id == m.message_id
                       for r in bot_api.core.sent(m.chat_id)) for m in sent)
    return bot_api.core.wait_for(done, timeout)


@pytest.mark.timeout(300)
def test_a_few_chats_in_bursts_are_answered_in_order(bot_api: BotApi, run_service,
                                                     storm_random: random.Random) -> None:
    chats = [960_000 + n for n in range(5)]
    bot_api.core.set_limits(RateLimits())
    run_service(bot_api.config(chats, brain_delay=0.1, cap=3))
    bursts = [[(chat, f"burst {n} in {chat}") for n in range(20)] for chat in chats]
    sent = [_say(bot_api, chat, text) for chat, text in _interleaved(storm_random, *bursts)]
    assert _answered(bot_api, sent, timeout=240)
    assert invariants.every_message_acked_and_answered_once(bot_api.core, sent) == []
    assert invariants.answers_in_message_order(bot_api.core, sent) == []
    assert bot_api.core.throttled().total == 0


@pytest.mark.timeout(300)
def test_one_chatty_user_does_not_starve_the_quiet_ones(
    bot_api: BotApi, run_service, storm_random: random.Random
) -> None:
    chatty, quiet = 961_000, [961_001 + n for n in range(30)]
    bot_api.core.set_limits(RateLimits())
    run_service(bot_api.config([chatty, *quiet], brain_delay=0.3, cap=2))
    # The chatty user's 30 and the quiet ones' one each, interleaved by the seed (the
    # chatty user may well write first): written within milliseconds, before any turn ends.
    order = _interleaved(storm_random, [(chatty, f"chatty {n}") for n in range(30)],
                         [(chat, f"quiet {chat}") for chat in quiet])
    said = [_say(bot_api, chat, text) for chat, text in order]
    talk = [m for m in said if m.chat_id == chatty]
    calm = [m for m in said if m.chat_id != chatty]
    assert _answered(bot_api, calm, timeout=120)
    # A chat has one turn in the brain queue at a time: the quiet ones, who asked before
    # the chatty user's second turn, all go first.
    chatty_done = [r for r in bot_api.core.sent(chatty) if r.kind == "message"
                   and r.reply_to_message_id is not None]
    assert len(chatty_done) <= 3, f"{len(chatty_done)} chatty answers before the quiet ones"
    assert _answered(bot_api, talk, timeout=120)
    assert invariants.answers_in_message_order(bot_api.core, talk + calm) == []


@pytest.mark.timeout(300)
def test_a_hundred_kilobyte_unicode_message_comes_back_whole_in_order(
    bot_api: BotApi, run_service, storm_random: random.Random
) -> None:
    chat = 962_000
    rng = storm_random
    pieces = ["😀", "🇫🇷", "👨‍👩‍👧", "中文", "ünïcödé", "word", " ", "\n", "**x**"]
    text = "".join(rng.choice(pieces) for _ in range(40_000))[:100_000]
    assert len(text.encode()) >= 100_000
    bot_api.core.set_limits(RateLimits())
    run_service(bot_api.config([chat], brain_delay=0.0))
    message = _say(bot_api, chat, text)
    after = _say(bot_api, chat, "and a short one")
    assert _answered(bot_api, [message, after], timeout=240)
    records = bot_api.core.sent(chat)
    parts = [r for r in records if r.kind == "message" and r.reply_to_message_id is not None]
    assert all(utf16_len(p.text or "") <= TELEGRAM_LIMIT for p in parts)
    assert parts[-1].text == "echo: and a short one", "the long answer's parts came first"
    assert all(p.reply_to_message_id == message.message_id for p in parts[:-1])
    assert len(parts) - 1 >= utf16_len(text) // TELEGRAM_LIMIT
    assert bot_api.core.throttled().total == 0
