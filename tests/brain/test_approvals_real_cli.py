"""Tool approvals with the real Claude Code CLI (offline, the fake Messages API asking
for a Bash tool): the question reaches Telegram, a press answers the CLI, and the tool
runs, or does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.approvals_flow import answer_to, buttons, final_text, wait_question
from tests.brain.conftest import Bridge, assert_no_leftovers
from wakeful.testing.fake_anthropic import Answer, FakeAnthropicApi, UseTool

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(90)]

CHAT = 5151


def _ask_for_bash(anthropic: FakeAnthropicApi) -> None:
    anthropic.script.push(
        UseTool("Bash", {"command": "echo ran > marker.txt", "description": "leave a mark"}),
        Answer("done with the tool"))


def test_a_bash_call_allowed_from_telegram_runs(
        claude_bridge, anthropic: FakeAnthropicApi, tmp_path: Path) -> None:
    _ask_for_bash(anthropic)
    bridge: Bridge = claude_bridge([CHAT], approvals=True, permission_mode="dontAsk")
    bridge.say(CHAT, "leave a mark please")

    question = wait_question(bridge.bot_api, CHAT)
    assert "Bash: echo ran > marker.txt" in question.text
    data = buttons(bridge.bot_api, CHAT, question.message_id)["Allow once"]
    press = bridge.core.inject_callback_query(CHAT, question.message_id, data)
    assert answer_to(bridge.bot_api, press["callback_query"]["id"]).text == "✅ allowed"

    [reply] = [r for r in bridge.wait_replies(CHAT, 2) if r.message_id != question.message_id]
    assert reply.text == "done with the tool"
    marker = tmp_path / "home" / "chats" / str(CHAT) / "marker.txt"
    assert marker.read_text() == "ran\n", "the allowed tool ran in the chat's workdir"
    final_text(bridge.bot_api, CHAT, question.message_id, "✅ allowed by User")
    # The CLI was told exactly that: the tool's result went back to the model.
    last = anthropic.message_requests[-1].body or {}
    [result] = [b for b in last["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert result["is_error"] is False
    assert_no_leftovers(bridge.service)


def test_a_bash_call_denied_from_telegram_does_not_run_and_the_model_reads_why(
        claude_bridge, anthropic: FakeAnthropicApi, tmp_path: Path) -> None:
    _ask_for_bash(anthropic)
    bridge: Bridge = claude_bridge([CHAT], approvals=True)
    bridge.say(CHAT, "leave a mark please")

    question = wait_question(bridge.bot_api, CHAT)
    data = buttons(bridge.bot_api, CHAT, question.message_id)["Deny"]
    bridge.core.inject_callback_query(CHAT, question.message_id, data)

    [reply] = [r for r in bridge.wait_replies(CHAT, 2) if r.message_id != question.message_id]
    assert reply.text == "done with the tool"
    assert not (tmp_path / "home" / "chats" / str(CHAT) / "marker.txt").exists()
    last = anthropic.message_requests[-1].body or {}
    [result] = [b for b in last["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert result["is_error"] is True
    assert "The user denied this tool call." in str(result["content"])
    assert_no_leftovers(bridge.service)
