"""Thirty chats at once against the real CLI: the cap holds and waiters hear their place."""

from __future__ import annotations

import re

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from wakeful.testing.fake_anthropic import EchoPrompt, FakeAnthropicApi, Script

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(120)]

CAP = 4
PLACE = re.compile(r"^⏳ Waiting for a free brain: you are #(\d+) in line\.$")


def test_thirty_chats_at_once_never_run_more_brains_than_the_cap_and_waiters_see_their_place(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    chats = [640_000 + i for i in range(30)]
    bridge: Bridge = claude_bridge(chats, cap=CAP)
    # Each answer takes a while, so turns overlap and a queue really forms.
    anthropic.script = Script(default=EchoPrompt(delay=1.5))

    for chat in chats:
        bridge.say(chat, f"hello from {chat}")
    assert bridge.core.wait_for(
        lambda c: all(len(bridge.replies(chat)) == 1 for chat in chats), timeout=90
    ), [chat for chat in chats if not bridge.replies(chat)]

    for chat in chats:
        assert [r.text for r in bridge.replies(chat)] == [f"echo: hello from {chat}"]
    # Measured where brains talk to the API, not by the pool's own bookkeeping.
    assert anthropic.peak_in_flight == CAP, "the cap was exceeded or never reached"
    pool = bridge.pool()
    assert pool["peak_running"] == CAP
    assert pool["turns_started"] == 30

    told = {chat: [int(m.group(1)) for shown in bridge.status_history(chat) for text in shown
                   if (m := PLACE.match(text))] for chat in chats}
    places = [place for chat_places in told.values() for place in chat_places]
    assert places, "nobody who waited was told their place in line"
    assert all(1 <= place <= 30 - CAP for place in places), places
    longest = max(chats, key=lambda chat: max(told[chat], default=0))
    assert told[longest][0] > CAP, "the last in line was told how far back it was"
    assert told[longest] == sorted(told[longest], reverse=True), "a place only improves"
    # Its wait ended in words that stay true: no edit when the answer comes.
    assert re.match(r"^▶️ Started after \d+ s in line\.$", bridge.final_status(longest)[-1])
    assert_no_leftovers(bridge.service)
