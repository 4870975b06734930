"""A replaced poller's long poll does not keep Telegram's one getUpdates connection."""

from __future__ import annotations

import time
from dataclasses import replace

from tests.conftest import BotApi
from wakeful.config import TelegramConfig
from wakeful.messages import ChildStale

LONG_POLL = 20.0


def test_the_successor_of_a_poller_replaced_mid_long_poll_receives_at_once(
    bot_api: BotApi, run_service
) -> None:
    chat = 840_001
    base = bot_api.config([chat], brain_delay=0.05)
    config = replace(base, telegram=replace(base.telegram, poll_timeout=LONG_POLL))
    assert isinstance(config.telegram, TelegramConfig)
    svc = run_service(config)
    bot_api.core.inject_text(chat, "hello")
    bot_api.wait_replies(chat, 1)
    # The poller now sits in a 20 s long poll on the single getUpdates connection.
    assert bot_api.core.wait_for(lambda c: c.call_counts().get("getUpdates", 0) >= 2, timeout=10)
    assert svc.ask("poller")["poll_in_flight"]
    generation = svc.ask("poller")["generation"]
    polls_before = bot_api.core.call_counts()["getUpdates"]

    # What the watchdog does when the poller looks dead: its supervisor replaces it.
    svc.directory.tell("root", ChildStale("poller", generation, silent_for=99.0))
    assert _wait(lambda: _generation(svc) > generation, timeout=10)
    # No update arrives to end the old poll early: the successor must poll on its own,
    # not wait for the pool or fail on it.
    assert bot_api.core.wait_for(
        lambda c: c.call_counts()["getUpdates"] > polls_before, timeout=LONG_POLL / 4)
    time.sleep(3.0)
    assert svc.ask("poller")["last_error"] is None

    sent = time.monotonic()
    bot_api.core.inject_text(chat, "are you there?")
    bot_api.wait_replies(chat, 2, timeout=LONG_POLL * 2)
    waited = time.monotonic() - sent
    # Had the old poll kept the connection, the new poller would wait for it to end
    # (up to 20 s) or fail on the pool; a few seconds covers the restart backoff.
    assert waited < LONG_POLL / 4, f"answered only after {waited:.1f}s"
    assert [r.text for r in bot_api.replies(chat)] == ["echo: hello", "echo: are you there?"]
    assert svc.ask("poller")["consecutive_failures"] == 0


def _generation(svc) -> int:
    try:
        return int(svc.ask("poller")["generation"])
    except KeyError:
        return 0  # between the old one's removal and the new one's start


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
