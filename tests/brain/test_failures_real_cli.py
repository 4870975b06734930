"""The real CLI when the API misbehaves: every failure ends, is explained, leaves nothing.

Each test drives the whole service (local Bot API over HTTP, actors, a child process
per turn, the real CLI) against the fake Messages API scripted to fail one way.
"""

from __future__ import annotations

import itertools
import logging
import time

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from wakeful.actors import status
from wakeful.actors.replies import SORRY
from wakeful.testing.fake_anthropic import (
    Answer,
    EchoPrompt,
    ErrorStatus,
    FakeAnthropicApi,
    HangBeforeHeaders,
    HangMidStream,
    Overloaded,
    Script,
)

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(90)]


def _first_status_seen(bridge: Bridge, chat: int, timeout: float) -> str | None:
    found: list[str] = []

    def seen(_: object) -> bool:
        found[:] = [n.text for n in bridge.notices(chat) if n.text]
        return bool(found)

    bridge.core.wait_for(seen, timeout)
    return found[0] if found else None


def test_overload_storm_shows_live_retry_status_then_the_answer_once_the_api_recovers(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_001
    bridge: Bridge = claude_bridge([chat])
    # The CLI gives up after 3 consecutive 529s; our retry runs it again, and the 4th
    # request is still overloaded before the API recovers.
    anthropic.script.push(Overloaded(times=4), Answer("made it"))

    asked = time.monotonic()
    bridge.say(chat, "are you there?")
    first_status = _first_status_seen(bridge, chat, timeout=10)
    assert first_status is not None, "the user waited in silence"
    assert first_status.startswith(("⏳ Claude API overloaded, retry ",
                                     "🔁 Claude API overloaded; trying again in ")), first_status
    assert time.monotonic() - asked < 10

    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "made it"
    shown = bridge.final_status(chat)
    assert len(bridge.notices(chat)) == 1, "one status message per turn, edited in place"
    assert shown[-1] == status.ANSWERED
    assert all(a != b for a, b in itertools.pairwise(shown)), \
        "an identical edit is refused by Telegram"
    assert [a["failure"] for a in bridge.attempts(chat)] == ["api_error", None]
    assert_no_leftovers(bridge.service)


def test_overload_that_never_ends_fails_clearly_when_retries_run_out_and_frees_the_slot(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    stormy, calm = 620_002, 620_003
    bridge: Bridge = claude_bridge([stormy, calm], cap=1, max_attempts=2)
    anthropic.script = Script(default=Overloaded())

    bridge.say(stormy, "anyone?")
    (failed,) = bridge.wait_replies(stormy, 1, timeout=40)
    assert failed.text.startswith(SORRY + "Claude reported an error: API Error: Repeated 529")
    assert len(bridge.attempts(stormy)) == 2
    assert bridge.final_status(stormy)[-1] == status.FAILED

    anthropic.script = Script(default=EchoPrompt())
    bridge.say(calm, "and me?")
    (answer,) = bridge.wait_replies(calm, 1)
    assert answer.text == "echo: and me?", "the only slot was free again"
    assert_no_leftovers(bridge.service)


def test_api_that_never_sends_headers_is_stopped_by_the_first_event_timer(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_004
    bridge: Bridge = claude_bridge([chat], first_event_timeout=2.0)
    anthropic.script.push(HangBeforeHeaders(seconds=60))

    asked = time.monotonic()
    bridge.say(chat, "hello?")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == SORRY + "Claude did not start answering within 2 s, so I stopped it"
    assert time.monotonic() - asked < 2.0 + 8.0  # the timer, plus CLI start-up and a kill
    assert [a["reason"] for a in bridge.attempts(chat)] == ["no_first_event"]
    assert_no_leftovers(bridge.service)


def test_stream_that_stalls_midway_is_stopped_by_the_idle_timer(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_005
    bridge: Bridge = claude_bridge([chat], idle_timeout=2.0)
    anthropic.script.push(HangMidStream(text_before="Let me think", seconds=60))

    asked = time.monotonic()
    bridge.say(chat, "a hard question")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == SORRY + "Claude went silent for 2 s in the middle of the answer, " \
                                 "so I stopped it"
    assert time.monotonic() - asked < 2.0 + 8.0
    assert [a["reason"] for a in bridge.attempts(chat)] == ["idle"]
    assert_no_leftovers(bridge.service)


def test_cli_that_exits_1_before_answering_is_retried_then_reported_with_its_own_words(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_006
    bridge: Bridge = claude_bridge([chat], max_attempts=2, extra_args=("--no-such-flag",))

    bridge.say(chat, "hi")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text.startswith(SORRY + "the brain exited with status 1 without answering")
    assert "unknown option '--no-such-flag'" in reply.text
    assert [a["exit_code"] for a in bridge.attempts(chat)] == [1, 1]
    assert anthropic.message_requests == []
    assert_no_leftovers(bridge.service)


def test_a_bad_request_is_not_retried_because_running_it_again_cannot_help(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_007
    bridge: Bridge = claude_bridge([chat])
    anthropic.script = Script(default=ErrorStatus(400, "invalid_request_error", "too weird"))

    bridge.say(chat, "something odd")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text.startswith(SORRY + "Claude reported an error:")
    assert "too weird" in reply.text
    assert len(bridge.attempts(chat)) == 1
    assert_no_leftovers(bridge.service)


def test_empty_answers_are_retried_then_reported(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chat = 620_008
    bridge: Bridge = claude_bridge([chat], max_attempts=2)
    anthropic.script = Script(default=Answer(""))

    bridge.say(chat, "say nothing")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == SORRY + "the brain finished without any text"
    assert [a["failure"] for a in bridge.attempts(chat)] == ["empty", "empty"]
    assert_no_leftovers(bridge.service)


def test_garbage_lines_around_a_real_answer_are_counted_and_logged_and_the_answer_arrives(
    claude_bridge, claude_bin: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = 620_009
    # The real CLI behind a wrapper that first prints two lines nobody can parse.
    wrapper = ("sh", "-c", 'printf "not json\\n{broken\\n"; exec "$@"', "sh", claude_bin)
    bridge: Bridge = claude_bridge([chat], command=wrapper)

    with caplog.at_level(logging.WARNING, logger="wakeful.actors.brain_pool"):
        bridge.say(chat, "hello through the noise")
        (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: hello through the noise"
    assert [a["garbage_lines"] for a in bridge.attempts(chat)] == [2]
    assert "2 unreadable stdout lines" in caplog.text
    assert_no_leftovers(bridge.service)
