"""/cancel stops the real CLI mid-turn; what was queued behind it still gets its answer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from wakeful.actors import status
from wakeful.actors.replies import CANCELLED_REPLY
from wakeful.conversation.commands import NOTHING_TO_CANCEL
from wakeful.testing.fake_anthropic import Answer, FakeAnthropicApi

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(60)]

SECRET_PROMPT = "tell me a long story about PROMPT-7f3a"


def _running_brain(bridge: Bridge, chat: int) -> int | None:
    running = [r for r in bridge.pool()["running"] if r["chat"] == chat]
    return running[0]["pid"] if running else None


@pytest.mark.parametrize("keep_warm", [0.0, 120.0], ids=["cold", "warm"])
def test_cancel_ends_a_long_turn_within_two_seconds_and_the_next_message_is_answered(
    claude_bridge, anthropic: FakeAnthropicApi, keep_warm: float
) -> None:
    """Cold: the interrupted CLI exits. Warm: it stays, and the next message runs in it."""
    chat = 630_001
    bridge: Bridge = claude_bridge([chat], keep_warm=keep_warm)
    # Twenty seconds of slowly streamed text: the CLI is busy and healthy, just long.
    anthropic.script.push(Answer("x" * 200, chunk_size=1, delay_between_chunks=0.1))

    story = bridge.say(chat, SECRET_PROMPT)
    bridge.say(chat, "short one")
    assert bridge.core.wait_for(lambda c: anthropic.in_flight == 1, timeout=15)
    pgid = _running_brain(bridge, chat)
    assert pgid is not None

    cancelled_at = time.monotonic()
    bridge.say(chat, "/cancel")
    first, second = bridge.wait_replies(chat, 2)
    assert (first.text, first.reply_to_message_id) == (CANCELLED_REPLY, story)
    assert first.at_monotonic - cancelled_at < 2.0
    # Warm, the CLI itself puts "[Request interrupted by user]" before the next message
    # (the fake echoes the whole user message): the model learns the last turn was cut.
    assert second.text.startswith("echo: ") and second.text.endswith("short one"), \
        "the queued message survived the cancel"
    attempts = bridge.attempts(chat)
    assert [a["reason"] for a in attempts] == ["cancelled", "exited"]
    if keep_warm:
        assert attempts[1]["pgid"] == pgid, "the next message ran in the same CLI process"
        os.killpg(pgid, 0)  # and it waits warm for the one after
        assert [a["kept_warm"] for a in attempts] == [True, True]
    else:
        assert attempts[1]["pgid"] != pgid
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    assert_no_leftovers(bridge.service)


def test_the_prompt_and_the_bot_token_never_reach_the_brains_argv_or_environment(
    claude_bridge, anthropic: FakeAnthropicApi, tmp_path: Path
) -> None:
    chat = 630_002
    bridge: Bridge = claude_bridge([chat])
    anthropic.script.push(Answer("y" * 100, chunk_size=1, delay_between_chunks=0.1))
    os.environ["WAKEFUL_TEST_LEAK_CANARY"] = "canary-9b2"  # the service's environment
    try:
        bridge.say(chat, SECRET_PROMPT)
        assert bridge.core.wait_for(lambda c: anthropic.in_flight == 1, timeout=15)
        pid = _running_brain(bridge, chat)
        assert pid is not None
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    finally:
        del os.environ["WAKEFUL_TEST_LEAK_CANARY"]
    assert not any(b"PROMPT-7f3a" in arg for arg in argv), "the prompt is visible in ps"
    assert anthropic.message_requests[0].user_text == SECRET_PROMPT, "it came via stdin"
    assert not any(b"canary-9b2" in var for var in environ)
    assert not any(bridge.bot_api.token.encode() in var for var in environ)
    names = {var.split(b"=", 1)[0].decode() for var in environ if var}
    assert "HOME" in names and "ANTHROPIC_BASE_URL" in names

    bridge.say(chat, "/cancel")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == CANCELLED_REPLY
    assert_no_leftovers(bridge.service)


def test_cancel_with_nothing_running_says_so_and_a_queued_turn_shows_cancelled(
    standin_bridge,
) -> None:
    chat, other = 630_003, 630_004
    bridge: Bridge = standin_bridge([chat, other], cap=1, brain_delay=3.0)
    bridge.say(chat, "/cancel")
    (nothing,) = bridge.wait_replies(chat, 1)
    assert nothing.text == NOTHING_TO_CANCEL

    # `other` holds the only slot, so this chat's turn waits in the pool's queue.
    bridge.say(other, "busy for a while")
    assert bridge.core.wait_for(lambda c: len(bridge.pool()["running"]) == 1, timeout=10)
    waiting = bridge.say(chat, "wait for me")
    assert bridge.core.wait_for(lambda c: bridge.pool()["waiting"] == [chat], timeout=10)
    bridge.say(chat, "/cancel")
    _, cancelled = bridge.wait_replies(chat, 2)
    assert (cancelled.text, cancelled.reply_to_message_id) == (CANCELLED_REPLY, waiting)
    (answer,) = bridge.wait_replies(other, 1)
    assert answer.text == "echo: busy for a while"
    if bridge.status_history(chat):  # it waited long enough to be shown its place
        assert bridge.final_status(chat)[-1] == status.CANCELLED
    assert_no_leftovers(bridge.service)
