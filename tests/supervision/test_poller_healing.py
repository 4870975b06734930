"""A poller wedged in the middle of getUpdates is replaced; no update is lost or doubled."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import BotApi
from tests.supervision.harness import advance, settle_until
from wakeful.clock import FakeClock
from wakeful.config import WatchdogConfig

INTERVAL = 1.0


def test_a_poller_wedged_mid_call_is_replaced_and_every_update_is_answered_exactly_once(
    bot_api: BotApi, service
) -> None:
    chat = 830_001
    clock = FakeClock()
    config = replace(bot_api.on_fake_time(bot_api.config([chat], brain_delay=0.05)),
                     watchdog=WatchdogConfig(heartbeat_interval=INTERVAL, stale_after=1.5))
    svc, gateway = service(config, clock=clock)
    bot_api.core.inject_text(chat, "hello")
    bot_api.wait_replies(chat, 1)

    # The next getUpdates goes out, then the poller's thread hangs before it can even
    # attach its callback: whatever that call fetches, the wedged poller never handles.
    wedge = gateway.wedge_next("get_updates")
    bot_api.core.inject_text(chat, "one")  # ends the current poll; the next one wedges
    assert wedge.entered.wait(10)
    wedged_at = clock.monotonic()
    for text in ("two", "three"):
        bot_api.core.inject_text(chat, text)

    def replaced() -> bool:
        poller = {c["id"]: c for c in svc.ask("root")["children"]}["poller"]
        return poller["generation"] != 1

    assert advance(clock, svc.directory, 5 * INTERVAL, 0.1, skip={"poller"}, until=replaced)
    assert clock.monotonic() - wedged_at <= 2 * INTERVAL
    advance(clock, svc.directory, 0.3, 0.1, skip={"poller"})  # backoff: the new one polls

    bot_api.wait_replies(chat, 4)
    old = svc.abandoned.alive()[0].ref
    wedge.release()  # its call returns two and three to a fenced actor: dropped
    assert old.actor_stopped.wait(10)

    bot_api.core.inject_text(chat, "four")
    bot_api.wait_replies(chat, 5)
    assert settle_until(svc.directory, lambda: not svc.journal.owed(chat))
    texts = [r.text for r in bot_api.replies(chat)]
    assert texts == ["echo: hello", "echo: one", "echo: two", "echo: three", "echo: four"]
    assert svc.ask("poller")["generation"] > 1
    assert svc.ask("brain_pool")["turns_started"] == 5
    assert bot_api.core.wait_for(lambda c: c.pending_update_ids() == [], timeout=10), (
        "every update confirmed to Telegram")

