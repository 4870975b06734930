"""Queue modes, end to end: what a message sent while Claude works becomes.

Real PTB over HTTP, the local Bot API server and the stand-in brain, which records
every message it is given (WAKEFUL_STANDIN_PROMPTS).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import BotApi
from wakeful.config import ChatsConfig
from wakeful.state.records import MessageState

CHAT = 7171


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _start(bot_api: BotApi, run_service, tmp_path: Path, mode: str | None,
           delay: float = 3.0) -> Any:
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config([CHAT], brain_delay=delay,
                            env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)},
                            **({"mode": mode} if mode else {}))
    if mode is None:  # the configured default, as an operator who never set it gets
        config = replace(config, chats=ChatsConfig())
    return run_service(config)


def _send_while_busy(bot_api: BotApi, *texts: str) -> list[int]:
    """The first text starts a turn; the others arrive once its brain is working."""
    ids = [_sent(bot_api, texts[0])]
    assert bot_api.core.wait_for(lambda c: any(r.kind == "chat_action" for r in c.sent(CHAT)),
                                 15), "the first turn never started"
    for text in texts[1:]:
        ids.append(_sent(bot_api, text))
    return ids


# message_id -> update_id of what the tests sent (one chat per test, so no clashes that
# matter within a test).
_UPDATES: dict[int, int] = {}


def _sent(bot_api: BotApi, text: str) -> int:
    update = bot_api.core.inject_text(CHAT, text)
    _UPDATES[update["message"]["message_id"]] = update["update_id"]
    return int(update["message"]["message_id"])


def _reactions(bot_api: BotApi, message_id: int) -> list[str]:
    return [emoji for r in bot_api.core.sent(CHAT)
            if r.kind == "reaction" and r.message_id == message_id for emoji in r.reaction or ()]


def _settled(bot_api: BotApi, svc: Any) -> None:
    assert bot_api.core.wait_for(lambda c: svc.journal.owed(CHAT) == [], 20), \
        f"still owed: {svc.journal.owed(CHAT)}"


def test_queue_mode_gives_each_message_its_own_turn(bot_api: BotApi, run_service,
                                                     tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, "queue", delay=1.5)
    first, second = _send_while_busy(bot_api, "one", "two")
    replies = bot_api.wait_replies(CHAT, 2)
    assert [(r.reply_to_message_id, r.text) for r in replies] == [
        (first, "echo: one"), (second, "echo: two")]
    assert [r["prompt"] for r in _records(tmp_path / "prompts.jsonl")] == ["one", "two"]
    _settled(bot_api, svc)


def test_collect_mode_makes_one_next_turn_of_what_arrived_meanwhile(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, "collect", delay=3.0)
    first, second, third = _send_while_busy(bot_api, "one", "two", "three")
    replies = bot_api.wait_replies(CHAT, 2)
    assert [(r.reply_to_message_id, r.text) for r in replies] == [
        (first, "echo: one"), (second, "echo: two\n\nthree")]
    assert [r["prompt"] for r in _records(tmp_path / "prompts.jsonl")] == [
        "one", "two\n\nthree"]
    _settled(bot_api, svc)
    # The merged message is answered by the turn: closed, never run again.
    assert svc.journal.state_of(_UPDATES[third]) is MessageState.ANSWERED
    assert len(bot_api.replies(CHAT)) == 2


def test_steer_mode_puts_a_message_into_the_running_turn(bot_api: BotApi, run_service,
                                                          tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, "steer")
    first, second = _send_while_busy(bot_api, "write it", "and test it")
    assert bot_api.core.wait_for(lambda c: "👌" in _reactions(bot_api, second), 15), \
        "the follow-up was never marked as taken"
    [reply] = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == first
    assert "write it" in reply.text and "and test it" in reply.text
    records = _records(tmp_path / "prompts.jsonl")
    assert [r["prompt"] for r in records] == ["write it", "and test it"]
    assert records[1]["during"] and records[0]["pid"] == records[1]["pid"]
    _settled(bot_api, svc)
    assert len(bot_api.replies(CHAT)) == 1, "the follow-up is answered by the turn"


def test_steer_is_the_default_mode(bot_api: BotApi, run_service, tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, None)
    _first, second = _send_while_busy(bot_api, "one", "two")
    assert bot_api.core.wait_for(lambda c: "👌" in _reactions(bot_api, second), 15)
    bot_api.wait_replies(CHAT, 1)
    _settled(bot_api, svc)
    assert len(bot_api.replies(CHAT)) == 1


def test_interrupt_mode_stops_the_turn_and_goes_on_with_the_new_message(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, "interrupt", delay=5.0)
    first, second = _send_while_busy(bot_api, "a long essay", "no, a haiku")
    assert bot_api.core.wait_for(lambda c: "👌" in _reactions(bot_api, second), 15)
    [reply] = bot_api.wait_replies(CHAT, 1)
    # One answer, to the message that started the turn, about the one that stopped it.
    assert reply.reply_to_message_id == first and "no, a haiku" in reply.text
    _settled(bot_api, svc)
    prompts = [r["prompt"] for r in _records(tmp_path / "prompts.jsonl")]
    assert prompts[:2] == ["a long essay", "no, a haiku"]


def test_a_mode_chosen_in_the_chat_beats_the_configured_one(bot_api: BotApi, run_service,
                                                             tmp_path: Path) -> None:
    svc = _start(bot_api, run_service, tmp_path, "steer", delay=1.5)
    bot_api.core.inject_text(CHAT, "/mode queue")
    bot_api.wait_replies(CHAT, 1)
    first, second = _send_while_busy(bot_api, "one", "two")
    replies = bot_api.wait_replies(CHAT, 3)
    assert [(r.reply_to_message_id, r.text) for r in replies[1:]] == [
        (first, "echo: one"), (second, "echo: two")]
    _settled(bot_api, svc)


def test_in_steer_mode_what_was_sent_while_the_turn_waited_in_line_joins_it(
        bot_api: BotApi, run_service, tmp_path: Path) -> None:
    other = 7272
    prompts = tmp_path / "prompts.jsonl"
    svc = run_service(bot_api.config([CHAT, other], brain_delay=5.0, cap=1, mode="steer",
                                     env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)}))
    bot_api.core.inject_text(other, "the only brain is mine", user_id=other)
    assert bot_api.core.wait_for(lambda c: any(r.kind == "chat_action" for r in c.sent(other)),
                                 15)
    one = _sent(bot_api, "one")
    # Its turn waits in line: no brain runs for this chat yet.
    deadline = time.monotonic() + 10
    while CHAT not in svc.ask("brain_pool")["waiting"]:
        assert time.monotonic() < deadline, "the turn never waited in line"
        time.sleep(0.05)
    two = _sent(bot_api, "two")
    assert bot_api.core.wait_for(lambda c: len(_reactions(bot_api, two)) > 0, 10)
    assert bot_api.replies(CHAT) == []
    assert bot_api.core.wait_for(lambda c: "👌" in _reactions(bot_api, two), 20)
    [reply] = bot_api.wait_replies(CHAT, 1)
    assert reply.reply_to_message_id == one and reply.text == "echo: one + two"
    _settled(bot_api, svc)
    assert len(bot_api.replies(CHAT)) == 1
    mine = [r for r in _records(prompts) if r["prompt"] in ("one", "two")]
    assert [r["prompt"] for r in mine] == ["one", "two"] and mine[0]["pid"] == mine[1]["pid"]
