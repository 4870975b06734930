"""Budgets and limits end to end: real PTB over HTTP, the local Bot API, the stand-in brain.

A daily budget stops turns (with a reply naming the spend and the reset) and a new UTC
day starts them again; a chat's overrides change the brain's command line; a user's
burst beyond the flood limit is refused at the door with one reply.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import BotApi
from wakeful.chat_policy import ChatOverride
from wakeful.clock import SystemClock
from wakeful.config import ChatsConfig

CHAT, OTHER = 4242, 4343


class ShiftedClock(SystemClock):
    """Real time, moved forward on demand: the budget's midnight and the flood window
    come in a test's time instead of the wall's."""

    def __init__(self, wall_at: float) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wall_shift = wall_at - time.time()
        self._mono_shift = 0.0

    def wall(self) -> float:
        with self._lock:
            return time.time() + self._wall_shift

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self._mono_shift

    def move(self, seconds: float) -> None:
        with self._lock:
            self._wall_shift += seconds
            self._mono_shift += seconds


def _prompts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _texts(bot_api: BotApi, chat_id: int) -> list[str]:
    return [r.text for r in bot_api.replies(chat_id)]


def _tonight(hour: int, minute: int) -> float:
    today = time.gmtime()
    return calendar.timegm((today.tm_year, today.tm_mon, today.tm_mday, hour, minute, 0))


def test_a_chat_past_its_daily_budget_gets_a_reply_instead_of_a_turn_until_utc_midnight(
    bot_api: BotApi, service, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config([CHAT], brain_delay=0.05,
                            env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)})
    config = replace(config, chats=ChatsConfig(daily_budget_usd=1.0))
    clock = ShiftedClock(wall_at=_tonight(23, 50))
    svc, _ = service(config, clock=clock)

    bot_api.core.inject_text(CHAT, "[[cost 0.6]] first", user_id=CHAT)
    bot_api.wait_replies(CHAT, 1)
    bot_api.core.inject_text(CHAT, "[[cost 0.6]] second", user_id=CHAT)
    bot_api.wait_replies(CHAT, 2)
    # $1.20 spent: the turn that crossed the budget finished; the next one is refused.
    third = bot_api.core.inject_text(CHAT, "third", user_id=CHAT)
    replies = bot_api.wait_replies(CHAT, 3)
    assert replies[2].reply_to_message_id == third["message"]["message_id"]
    assert re.fullmatch(r"Daily budget reached for this chat: \$1\.20 of \$1\.00 spent today\. "
                        r"It resets at 00:00 UTC \(in (10|9) min\)\.", replies[2].text), \
        replies[2].text
    assert [p["prompt"] for p in _prompts(prompts)] == ["[[cost 0.6]] first",
                                                        "[[cost 0.6]] second"], \
        "the refused message never reached a brain"
    # Answered for good: nothing is left to replay after a restart.
    assert svc.journal.state_of(third["update_id"]) == "answered"
    assert bot_api.core.wait_for(lambda c: svc.journal.owed(CHAT) == [], 10)

    clock.move(15 * 60)  # 00:05 UTC: a new day, a new budget
    bot_api.core.inject_text(CHAT, "fourth", user_id=CHAT)
    replies = bot_api.wait_replies(CHAT, 4)
    assert replies[3].text == "echo: fourth"
    assert [p["prompt"] for p in _prompts(prompts)][-1] == "fourth"


def test_messages_queued_behind_the_turn_that_spends_the_budget_are_all_refused(
    bot_api: BotApi, service, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config([CHAT], brain_delay=1.5,
                            env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)})
    # Queue mode: each waiting message would be a turn of its own (steer would hand
    # them to the running turn, which is already paid for).
    config = replace(config, chats=ChatsConfig(
        daily_budget_usd=0.5, overrides={CHAT: ChatOverride(mode="queue")}))
    service(config, clock=ShiftedClock(wall_at=_tonight(12, 0)))

    bot_api.core.inject_text(CHAT, "[[cost 0.5]] expensive", user_id=CHAT)
    assert bot_api.core.wait_for(lambda c: len(_prompts(prompts)) == 1, 20)
    for text in ("second", "/new", "third"):  # while the first turn runs
        bot_api.core.inject_text(CHAT, text, user_id=CHAT)
    bot_api.wait_replies(CHAT, 4)
    texts = sorted(_texts(bot_api, CHAT))
    assert texts[0].startswith("Daily budget reached for this chat: $0.50 of $0.50 spent")
    assert texts[1] == texts[0], "both waiting messages are refused, not only the first"
    assert "echo: [[cost 0.5]] expensive" in texts
    assert [t for t in texts if not t.startswith(("Daily budget", "echo:"))], \
        "/new is still answered"
    assert len(_prompts(prompts)) == 1


def test_a_chats_overrides_change_the_command_line_its_brain_gets(
    bot_api: BotApi, run_service, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config([CHAT, OTHER], brain_delay=0.05, model="sonnet",
                            allowed_tools=("Read",), env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)})
    workdir = tmp_path / "vip"
    workdir.mkdir()
    override = ChatOverride(model="opus", allowed_tools=("Read", "WebFetch"),
                            permission_mode="acceptEdits", workdir=str(workdir))
    run_service(replace(config, chats=ChatsConfig(overrides={CHAT: override})))

    bot_api.core.inject_text(CHAT, "overridden", user_id=CHAT)
    bot_api.core.inject_text(OTHER, "plain", user_id=OTHER)
    bot_api.wait_replies(CHAT, 1)
    bot_api.wait_replies(OTHER, 1)

    argv = {p["prompt"]: p["argv"] for p in _prompts(prompts)}
    assert argv["overridden"][-6:] == ["--model", "opus", "--allowedTools", "Read,WebFetch",
                                       "--permission-mode", "acceptEdits"]
    assert argv["plain"][-4:] == ["--model", "sonnet", "--allowedTools", "Read"]
    assert "--permission-mode" not in argv["plain"]


def test_a_burst_beyond_the_flood_limit_gets_one_reply_and_later_messages_get_in(
    bot_api: BotApi, service, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config([CHAT], brain_delay=0.05,
                            env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)})
    config = replace(config, telegram=replace(config.telegram, flood_messages=3,
                                              flood_window=30.0))
    clock = ShiftedClock(wall_at=time.time())
    svc, _ = service(config, clock=clock)

    burst = [bot_api.core.inject_text(CHAT, f"m{i}", user_id=CHAT) for i in range(8)]

    def words_answered() -> set[str]:
        # However the chat's queue mode groups them into turns.
        return {w for t in _texts(bot_api, CHAT) if t.startswith("echo:")
                for w in re.findall(r"m\d", t)}

    assert bot_api.core.wait_for(lambda c: words_answered() >= {"m0", "m1", "m2"}, 30), \
        _texts(bot_api, CHAT)
    # Let any late reply show itself: there must be exactly one flood reply.
    bot_api.core.wait_for(lambda c: False, 1.0)
    replies = bot_api.replies(CHAT)
    flood = [r for r in replies if r.text.startswith("You're sending messages faster")]
    assert len(flood) == 1, [r.text for r in replies]
    assert re.fullmatch(r"You're sending messages faster than I can take them; I'll read "
                        r"again in (30|29|28) s\.", flood[0].text)
    assert flood[0].reply_to_message_id == burst[3]["message"]["message_id"]
    assert words_answered() == {"m0", "m1", "m2"}
    # Refused at the door: never stored, never given 👀, never run.
    for refused in burst[3:]:
        assert svc.journal.state_of(refused["update_id"]) is None
    eyes = {r.message_id for r in bot_api.core.sent(CHAT)
            if r.kind == "reaction" and r.reaction and "👀" in r.reaction}
    assert eyes == {u["message"]["message_id"] for u in burst[:3]}
    assert {w for p in _prompts(prompts) for w in re.findall(r"m\d", p["prompt"])} == \
        {"m0", "m1", "m2"}

    clock.move(31.0)  # the window has passed
    bot_api.core.inject_text(CHAT, "after the burst", user_id=CHAT)
    assert bot_api.core.wait_for(
        lambda c: "echo: after the burst" in _texts(bot_api, CHAT), 20)
