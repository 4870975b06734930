"""The poller keeps polling (and beating) while every brain slot is taken."""

from __future__ import annotations

import time

from tests.conftest import BotApi


def test_poller_heartbeat_keeps_arriving_while_every_brain_slot_is_busy(
    bot_api: BotApi, run_service
) -> None:
    chats = [300_001, 300_002, 300_003]
    service = run_service(bot_api.config(chats, brain_delay=6.0, cap=2))
    for chat in chats:
        bot_api.core.inject_text(chat, f"long job for {chat}", user_id=chat)

    def pool_saturated() -> bool:
        pool = service.ask("brain_pool")
        return len(pool["running"]) == 2 and len(pool["waiting"]) == 1

    assert bot_api.core.wait_for(lambda c: pool_saturated(), timeout=10)
    assert bot_api.core.wait_for(
        lambda c: "poller" in service.ask("watchdog")["watched"], timeout=10)
    ages, polls = [], []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        watched = service.ask("watchdog")["watched"]
        ages.append(watched["poller"]["last_beat_age"])
        polls.append(service.ask("poller")["polls"])
        bot_api.core.wait_for(lambda c: False, timeout=0.25)
    assert pool_saturated(), "the slots must still be busy at the end of the window"
    # Heartbeats every 0.5 s (pings) and after every 2 s long poll: never older than a poll.
    assert max(ages) < 2.5, ages
    assert polls[-1] > polls[0], "no getUpdates completed while the brains were busy"

    # And the user-visible half of liveness: a new message is acknowledged right away.
    late = bot_api.core.inject_text(chats[0], "are you there?", user_id=chats[0])
    late_id = late["message"]["message_id"]
    assert bot_api.core.wait_for(
        lambda c: any(r.kind == "reaction" and r.message_id == late_id
                      for r in c.sent(chats[0])), timeout=5)
