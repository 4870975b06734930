"""Conversations with the real Claude Code CLI: answers, resumed sessions, /new, lost sessions."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from wakeful.actors.replies import CONTEXT_LOST
from wakeful.conversation.commands import NEW_SESSION
from wakeful.testing.fake_anthropic import Answer, EchoPrompt, FakeAnthropicApi

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(60)]


def test_answer_is_the_apis_text_and_the_next_message_continues_the_same_session(
    claude_bridge, anthropic: FakeAnthropicApi, tmp_path: Path
) -> None:
    chat = 610_001
    bridge: Bridge = claude_bridge([chat])
    anthropic.script.push(Answer("The secret word is PLOVER."), EchoPrompt(prefix="again: "))

    first_id = bridge.say(chat, "remember a word")
    (first,) = bridge.wait_replies(chat, 1)
    assert first.text == "The secret word is PLOVER."
    assert first.reply_to_message_id == first_id
    session = bridge.service.journal.session(chat)
    assert session is not None
    # The id is the CLI's own: its transcript exists under the chat's working directory.
    assert list((tmp_path / "home" / ".claude" / "projects").glob(f"*/{session}.jsonl"))

    bridge.say(chat, "what was it?")
    _, second = bridge.wait_replies(chat, 2)
    assert second.text == "again: what was it?"
    history = str(anthropic.message_requests[-1].body)
    assert "remember a word" in history and "PLOVER" in history, "the session was resumed"
    assert bridge.service.journal.session(chat) == session

    totals = bridge.service.journal.chat_totals(chat)
    assert totals["turns"] == 2 and totals["failed"] == 0
    assert totals["cost_usd"] > 0, "the CLI's reported cost is recorded per chat"
    assert bridge.notices(chat) == [], "a quick answer needs no status message"
    assert_no_leftovers(bridge.service)


def test_a_vanished_session_falls_back_to_a_fresh_one_once_and_says_context_was_lost(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 610_002
    bridge: Bridge = claude_bridge([chat])
    gone = str(uuid.uuid4())
    bridge.service.journal.set_session(chat, gone)

    bridge.say(chat, "do you remember me?")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: do you remember me?"
    assert [n.text for n in bridge.notices(chat)] == [CONTEXT_LOST]
    # Told before the answer, so the answer reads in context.
    notice = bridge.notices(chat)[0]
    assert notice.at_monotonic <= reply.at_monotonic
    new_session = bridge.service.journal.session(chat)
    assert new_session is not None and new_session != gone
    assert [a["failure"] for a in bridge.attempts(chat)] == ["session_missing", None]
    assert len(anthropic.message_requests) == 1, "the missing session cost no API call"
    assert_no_leftovers(bridge.service)


def test_new_starts_a_fresh_conversation_in_message_order(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 610_003
    bridge: Bridge = claude_bridge([chat])
    bridge.say(chat, "first thought")
    bridge.say(chat, "/new")
    bridge.say(chat, "second thought")

    first, new, second = bridge.wait_replies(chat, 3)
    assert first.text == "echo: first thought"
    assert new.text == NEW_SESSION
    assert second.text == "echo: second thought"
    last_request = str(anthropic.message_requests[-1].body)
    assert "first thought" not in last_request, "the new conversation has no old history"
    assert len(anthropic.message_requests) == 2, "/new itself never reaches the brain"
    assert_no_leftovers(bridge.service)
