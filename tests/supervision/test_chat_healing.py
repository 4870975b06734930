"""A chat whose actor crashes or wedges still gets every answer, in order, once.

The real service, the local Bot API over HTTP and the stand-in brain; the faults are
injected at the journal, on the chat actor's own thread (a call that raises, a call
that never returns).
"""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import BotApi
from tests.supervision.faults import FaultyJournal
from tests.supervision.harness import advance, settle, settle_until
from wakeful.clock import FakeClock
from wakeful.config import WatchdogConfig
from wakeful.service import Service

INTERVAL = 1.0


def _texts(bot_api: BotApi, chat: int) -> list[str]:
    return [r.text for r in bot_api.replies(chat)]


def _chat_child(service: Service, chat: int) -> dict:
    return {c["id"]: c for c in service.ask("chats")["children"]}[f"chat:{chat}"]


def _all_answered(bot_api: BotApi, service: Service, chat: int, count: int) -> None:
    """Every message answered and recorded as such: nothing is owed any more.

    A reply Telegram has but the actor has not yet recorded is owed again if the actor
    dies in between (at-least-once); faults are injected only after this barrier.
    """
    bot_api.wait_replies(chat, count)
    assert settle_until(service.directory, lambda: not service.journal.owed(chat)), (
        _texts(bot_api, chat), service.journal.owed(chat))


def test_a_chat_actor_that_crashes_on_a_message_is_restarted_and_answers_the_rest_in_order(
    bot_api: BotApi, service
) -> None:
    chat = 810_001
    config = bot_api.config([chat], brain_delay=0.05)
    journal = FaultyJournal(config.journal.path, "normal")
    svc, _gateway = service(config, journal=journal)
    bot_api.core.inject_text(chat, "hello")
    _all_answered(bot_api, svc, chat, 1)

    journal.fail_next(f"session:{chat}")  # the actor's handler raises on the next message
    for text in ("one", "two", "three"):
        bot_api.core.inject_text(chat, text)

    _all_answered(bot_api, svc, chat, 4)
    assert _texts(bot_api, chat) == ["echo: hello", "echo: one", "echo: two", "echo: three"]
    child = _chat_child(svc, chat)
    assert child["restarts"] == 1 and child["generation"] == 2


def test_a_chat_actor_wedged_in_a_handler_is_replaced_and_its_chat_answered_once(
    bot_api: BotApi, service
) -> None:
    chat = 820_001
    clock = FakeClock()
    config = replace(bot_api.on_fake_time(bot_api.config([chat], brain_delay=0.05)),
                     watchdog=WatchdogConfig(heartbeat_interval=INTERVAL, stale_after=1.5))
    journal = FaultyJournal(config.journal.path, "normal", wall=clock.wall)
    svc, _gateway = service(config, clock=clock, journal=journal)
    bot_api.core.inject_text(chat, "hello")
    _all_answered(bot_api, svc, chat, 1)

    name = f"chat:{chat}"
    wedge = journal.wedge_next(f"session:{chat}")
    bot_api.core.inject_text(chat, "one")
    assert wedge.entered.wait(10), "the actor never reached the wedged call"
    wedged_at = clock.monotonic()
    for text in ("two", "three"):  # sent to the wedged actor's mailbox
        bot_api.core.inject_text(chat, text)
    assert settle_until(svc.directory, lambda: len(svc.journal.owed(chat)) == 3, skip={name})

    assert advance(clock, svc.directory, 5 * INTERVAL, 0.1, skip={name},
                   until=lambda: _chat_child(svc, chat)["generation"] != 1)
    assert clock.monotonic() - wedged_at <= 2 * INTERVAL
    advance(clock, svc.directory, 0.2, 0.1, skip={name})  # the backoff: replacement starts

    _all_answered(bot_api, svc, chat, 4)
    assert _texts(bot_api, chat) == ["echo: hello", "echo: one", "echo: two", "echo: three"]
    assert svc.state()["abandoned_threads"]["alive"] == 1

    # Unwedged, the old instance would ack, show typing, ask for a turn, answer again:
    # it is fenced, so none of that happens.
    seen = bot_api.core.sent(chat)
    old = svc.abandoned.alive()[0].ref
    wedge.release()
    assert old.actor_stopped.wait(10)
    settle(svc.directory)
    assert svc.ask("brain_pool")["turns_started"] == 4  # hello, one, two, three
    four = bot_api.core.inject_text(chat, "four")["message"]["message_id"]
    _all_answered(bot_api, svc, chat, 5)  # a round trip after the old one stopped
    late = bot_api.core.sent(chat)[len(seen):]
    # Only what "four" earns (👀 and typing race each other to the API).
    assert sorted((r.kind, r.reply_to_message_id if r.kind == "message" else r.message_id)
                  for r in late) == [
        ("chat_action", None), ("message", four), ("reaction", four)], late
    assert svc.state()["abandoned_threads"]["alive"] == 0
