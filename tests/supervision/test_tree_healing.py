"""Whole branches replaced: the chats supervisor itself, and the brain pool under a turn."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import BotApi
from tests.supervision.faults import FaultyJournal
from tests.supervision.harness import advance, settle_until
from wakeful.clock import FakeClock
from wakeful.config import ChatsConfig, WatchdogConfig
from wakeful.service import Service

INTERVAL = 1.0


def _root_child(svc: Service, name: str) -> dict:
    return {c["id"]: c for c in svc.ask("root")["children"]}[name]


def test_a_wedged_chats_supervisor_is_replaced_and_the_chats_it_owed_are_answered(
    bot_api: BotApi, service
) -> None:
    chat = 840_001
    clock = FakeClock()
    config = replace(bot_api.config([chat], brain_delay=0.05),
                     watchdog=WatchdogConfig(heartbeat_interval=INTERVAL, stale_after=1.5),
                     chats=ChatsConfig(idle_after=2.0))
    journal = FaultyJournal(str(bot_api.new_journal()), "normal", wall=clock.wall)
    svc, _gateway = service(config, clock=clock, journal=journal)
    bot_api.core.inject_text(chat, "hello")
    bot_api.wait_replies(chat, 1)

    # The idle chat asks to be stopped; the supervisor's journal check hangs.
    wedge = journal.wedge_next("has_open_work")
    assert advance(clock, svc.directory, 5.0, 0.1, skip={"chats"},
                   until=wedge.entered.is_set)
    bot_api.core.inject_text(chat, "are you there?")  # committed, routed to the wedged one
    assert settle_until(svc.directory, lambda: len(svc.journal.owed(chat)) == 1,
                        skip={"chats"})

    assert advance(clock, svc.directory, 5 * INTERVAL, 0.1, skip={"chats"},
                   until=lambda: _root_child(svc, "chats")["generation"] != 1)
    advance(clock, svc.directory, 0.3, 0.1, skip={"chats"})  # backoff: a new chats starts

    # The new supervisor retired the old one's chat actor; the restarted poller nudged
    # every chat the journal says is owed something, without waiting for the user.
    bot_api.wait_replies(chat, 2)
    assert [r.text for r in bot_api.replies(chat)] == ["echo: hello", "echo: are you there?"]
    assert svc.ask(f"chat:{chat}")["generation"] > 1
    wedge.release()


def test_a_turn_in_flight_when_the_brain_pool_crashes_is_still_answered(
    bot_api: BotApi, service
) -> None:
    chat = 850_001
    svc, _gateway = service(bot_api.config([chat], brain_delay=1.0))
    bot_api.core.inject_text(chat, "think about it")
    assert settle_until(svc.directory, lambda: len(svc.ask("brain_pool")["running"]) == 1)

    svc.directory.lookup("brain_pool").ref.tell(object())  # a bug: the pool crashes

    # rest_for_one: the chats restart with it and ask the new pool again.
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: think about it"
    assert _root_child(svc, "brain_pool")["restarts"] == 1
    assert _root_child(svc, "chats")["restarts"] == 1
