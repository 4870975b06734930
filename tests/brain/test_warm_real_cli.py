"""Warm sessions with the real Claude Code CLI, offline against the fake Messages API:
the chat's next turn goes into the CLI process its last turn left waiting; once
keep_warm passes the CLI is closed with EOF, exits by itself, and its saved session
resumes in a new process."""

from __future__ import annotations

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from tests.brain.turns import group_alive, wait_until
from wakeful.testing.fake_anthropic import FakeAnthropicApi, last_user_text

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(90)]



def test_the_next_message_goes_into_the_waiting_cli_with_the_whole_conversation(
    claude_bridge, anthropic: FakeAnthropicApi,
) -> None:
    chat = 661_001
    bridge: Bridge = claude_bridge([chat], keep_warm=60.0)
    bridge.say(chat, "the word is HERON")
    bridge.wait_replies(chat, 1)
    [warm] = wait_until(lambda: bridge.pool()["warm"], "the CLI to wait warm")
    session = bridge.service.journal.session(chat)
    assert warm["session_id"] == session

    bridge.say(chat, "which word?")
    _, second = bridge.wait_replies(chat, 2)
    assert second.text == "echo: which word?"
    body = anthropic.message_requests[-1].body or {}
    assert last_user_text(body) == "which word?"
    assert "HERON" in str(body["messages"]), "the model saw the conversation so far"
    first, then = bridge.attempts(chat)
    assert first["pgid"] == then["pgid"] == warm["pid"], "one CLI process, two turns"
    assert first["kept_warm"] and then["kept_warm"]
    assert bridge.service.journal.session(chat) == session
    assert (bridge.pool()["cold_starts"], bridge.pool()["warm_starts"]) == (1, 1)
    assert_no_leftovers(bridge.service)


def test_after_keep_warm_the_cli_exits_by_itself_and_the_session_resumes_cold(
    claude_bridge, anthropic: FakeAnthropicApi,
) -> None:
    chat = 661_002
    bridge: Bridge = claude_bridge([chat], keep_warm=1.0)
    bridge.say(chat, "the word is EGRET")
    bridge.wait_replies(chat, 1)
    pid = bridge.attempts(chat)[0]["pgid"]
    wait_until(lambda: not group_alive(pid), "the CLI to be closed after keep_warm", timeout=20)
    assert bridge.pool()["warm"] == []

    bridge.say(chat, "which word?")
    _, second = bridge.wait_replies(chat, 2)
    assert second.text == "echo: which word?"
    assert "EGRET" in str((anthropic.message_requests[-1].body or {})["messages"]), \
        "closed with EOF, the CLI had saved the session that the new process resumed"
    assert bridge.attempts(chat)[1]["pgid"] != pid
    assert bridge.pool()["cold_starts"] == 2
