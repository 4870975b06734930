"""Follow-ups through the whole service: Telegram in (the local Bot API over HTTP), the
chat's steer/interrupt modes, the pool, a running brain, one answer out.
"""

from __future__ import annotations

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from tests.brain.turns import wait_until
from wakeful.testing.fake_anthropic import FakeAnthropicApi, UseTool

pytestmark = pytest.mark.timeout(90)


def _running(bridge: Bridge, chat: int) -> bool:
    return any(r["chat"] == chat for r in bridge.pool()["running"])


def test_steer_a_message_sent_while_the_brain_works_joins_its_turn(standin_bridge) -> None:
    chat = 720_001
    bridge: Bridge = standin_bridge([chat], mode="steer", brain_delay=2.0)
    first = bridge.say(chat, "first")
    wait_until(lambda: _running(bridge, chat), "the first turn to run", 20)
    bridge.say(chat, "second")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: first + second"
    assert reply.reply_to_message_id == first
    assert wait_until(lambda: bridge.service.journal.owed(chat) == [], "nothing owed", 10)
    assert bridge.replies(chat) == [reply]  # one answer for both
    assert_no_leftovers(bridge.service)


def test_interrupt_a_message_stops_the_running_turn_and_is_answered(standin_bridge) -> None:
    chat = 720_002
    bridge: Bridge = standin_bridge([chat], mode="interrupt", brain_delay=0.5)
    bridge.say(chat, "first [[hang]]")
    wait_until(lambda: _running(bridge, chat), "the first turn to run", 20)
    bridge.say(chat, "second")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: second"
    assert wait_until(lambda: bridge.service.journal.owed(chat) == [], "nothing owed", 10)
    attempts = bridge.attempts(chat)
    assert len(attempts) == 1 and attempts[0]["failure"] is None
    assert_no_leftovers(bridge.service)


@pytest.mark.real_cli
def test_steer_with_the_real_cli_a_follow_up_lands_after_the_tool_result(
    claude_bridge, anthropic: FakeAnthropicApi,
) -> None:
    chat = 720_003
    anthropic.script.push(UseTool("Bash", {"command": "sleep 3"}))
    bridge: Bridge = claude_bridge([chat], mode="steer", allowed_tools=("Bash",),
                                   permission_mode="dontAsk")
    bridge.say(chat, "first")
    wait_until(lambda: any(r["last_event"] == "tool_use" for r in bridge.pool()["running"]),
               "the Bash call", 30)
    bridge.say(chat, "second")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: first + second"
    assert len(bridge.attempts(chat)) == 1
    assert wait_until(lambda: bridge.service.journal.owed(chat) == [], "nothing owed", 10)
    assert_no_leftovers(bridge.service)
