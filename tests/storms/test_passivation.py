"""Idle chats cost nothing: thousands of chats come and go, threads go back to the baseline.

A chat actor with nothing to do for `idle_after` stops; its next message starts a fresh
one from the journal, which resumes the chat's Claude session. The seed orders the
chats' arrival and picks what is said.
"""

from __future__ import annotations

import json
import random
import shlex
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import BotApi
from tests.storms.process import UNTHROTTLED, in_process_service, wait_until
from tests.supervision.harness import settle_until
from wakeful.config import ChatsConfig

# A brain that costs a shell, not a Python interpreter: the storm is about the bridge.
# (The flags wakeful appends become the script's $0, $1, ...: ignored.)
# Reads its prompt (the first stream-json line: stdin stays open for follow-ups).
QUICK_BRAIN = ("/bin/sh", "-c", "read -r prompt; " + "; ".join(
    "printf '%s\\n' " + shlex.quote(json.dumps(event)) for event in (
        {"type": "system", "subtype": "init", "session_id": "s-quick"},
        {"type": "result", "subtype": "success", "is_error": False, "result": "ok",
         "session_id": "s-quick"})))


@pytest.mark.timeout(600)
def test_thousands_of_chats_come_and_go_and_threads_return_to_the_baseline(
    tmp_path: Path, request: pytest.FixtureRequest, storm_random: random.Random
) -> None:
    chats = 10_000 if request.config.getoption("--storm-size") == "large" else 2_000
    ids = [2_000_000 + n for n in range(chats)]
    core, svc = in_process_service(tmp_path, ids, idle_after=1.0, delivery=UNTHROTTLED, cap=8,
                                   command=QUICK_BRAIN)
    try:
        core.inject_text(ids[0], "warm up", user_id=ids[0])
        assert core.wait_for(lambda c: any(r.kind == "message" and r.reply_to_message_id
                                           for r in c.sent(ids[0])), 30)
        assert wait_until(lambda: svc.ask("chats")["children"] == [], timeout=30)
        baseline = threading.active_count()
        before = sorted(t.name for t in threading.enumerate())

        for chat in storm_random.sample(ids, len(ids)):
            core.inject_text(chat, "hello", user_id=chat)
        answered = lambda c: all(  # noqa: E731
            any(r.kind == "message" and r.reply_to_message_id for r in c.sent(chat))
            for chat in ids)
        assert core.wait_for(answered, timeout=480), "not every chat was answered"
        peak = threading.active_count()

        # Every chat idles out; what is left is what the service needs with no work.
        if not wait_until(lambda: svc.ask("chats")["children"] == [], timeout=60):
            kids = svc.ask("chats")["children"]
            for kid in kids[:3]:
                chat = int(kid["id"].split(":")[1])
                print(svc.ask(kid["id"]), svc.journal.owed(chat), svc.journal.has_open_work(chat),
                      [(r.kind, r.text) for r in core.sent(chat) if r.kind != "chat_action"])
            raise AssertionError(len(kids))
        assert wait_until(lambda: threading.active_count() <= baseline, timeout=30), (
            f"{threading.active_count()} threads at rest, baseline {baseline}, peak {peak}; "
            f"before {before}, now {sorted(t.name for t in threading.enumerate())}")
        assert svc.ask("chats")["passivated"] >= chats
        print(json.dumps({"chats": chats, "threads_baseline": baseline, "threads_peak": peak}))
    finally:
        svc.stop(grace=0)


@pytest.mark.parametrize("keep_warm", [0.0, 120.0], ids=["cold", "warm"])
def test_a_passivated_chat_resumes_its_claude_session(
    bot_api: BotApi, run_service, tmp_path: Path, storm_random: random.Random,
    keep_warm: float
) -> None:
    """Cold: the next turn starts a new CLI with `--resume`. Warm: the chat's CLI outlived
    its actor (keep_warm is the brain's clock, idle_after the actor's), so the fresh actor's
    turn goes into that same process and session."""
    chat = 870_001
    prompts = tmp_path / "prompts.jsonl"
    config = replace(bot_api.config([chat], brain_delay=0.05, keep_warm=keep_warm,
                                    env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)}),
                     chats=ChatsConfig(idle_after=0.5))
    svc = run_service(config)
    word = storm_random.choice(["PLOVER", "XYZZY", "ünïcödé", "中文", "🇫🇷"])
    bot_api.core.inject_text(chat, f"remember {word}")
    bot_api.wait_replies(chat, 1)
    session = svc.journal.session(chat)
    assert session is not None
    assert wait_until(lambda: svc.ask("chats")["children"] == [], timeout=10), \
        "the idle chat was not stopped"
    assert settle_until(svc.directory, lambda: svc.ask("chats")["passivated"] == 1)

    bot_api.core.inject_text(chat, "what was the word?")
    bot_api.wait_replies(chat, 2)
    runs = [json.loads(line) for line in prompts.read_text().splitlines()]
    assert [r["prompt"] for r in runs] == [f"remember {word}", "what was the word?"]
    if keep_warm:
        assert [r["resume"] for r in runs] == [None, None]
        assert runs[0]["pid"] == runs[1]["pid"], "the new actor's turn went to the warm CLI"
        assert svc.journal.session(chat) == session
    else:
        assert [r["resume"] for r in runs] == [None, session], \
            "the new actor resumed the session"
    assert svc.ask(f"chat:{chat}")["generation"] == 2, "a fresh actor, from the journal"
