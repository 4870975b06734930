"""Small pure parts: update parsing, clocks, backoff."""

from __future__ import annotations

import threading

import pytest

from wakeful.bots.updates import MalformedUpdate, parse_update
from wakeful.clock import FakeClock, SystemClock
from wakeful.messages import IncomingMessage
from wakeful.retry import backoff


def _msg(update_id: int, chat: int = 1) -> IncomingMessage:
    return IncomingMessage(update_id, chat, update_id * 10, chat, f"m{update_id}", 0.0)


def test_text_update_becomes_an_incoming_message() -> None:
    raw = {"update_id": 7, "message": {"message_id": 3, "chat": {"id": 42, "type": "private"},
                                       "from": {"id": 42}, "text": "hi"}}
    parsed = parse_update(raw, 1.5)
    assert parsed is not None
    assert parsed.message == IncomingMessage(7, 42, 3, 42, "hi", 1.5)
    assert parsed.addressing.chat_type == "private"


def test_non_message_updates_are_ignored_and_broken_ones_named() -> None:
    assert parse_update({"update_id": 1, "callback_query": {}}, 0) is None
    photo = {"update_id": 2, "message": {"message_id": 1, "chat": {"id": 5}, "photo": []}}
    assert parse_update(photo, 0).message.text is None  # type: ignore[union-attr]
    for broken in ({}, {"update_id": "x"}, {"update_id": 3, "message": "nope"},
                   {"update_id": 4, "message": {"message_id": 1}},
                   {"update_id": 5, "message": {"chat": {"id": 1}}},
                   {"update_id": 6, "edited_message": {}}):
        with pytest.raises(MalformedUpdate):
            parse_update(broken, 0)


def test_fake_clock_fires_timers_in_order_only_when_advanced() -> None:
    clock = FakeClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("b"))
    clock.call_later(1.0, lambda: fired.append("a"))
    cancelled = clock.call_later(1.5, lambda: fired.append("x"))
    cancelled.cancel()
    clock.advance(0.5)
    assert fired == []
    clock.advance(2.0)
    assert fired == ["a", "b"]
    assert clock.monotonic() == pytest.approx(1002.5)


def test_timer_scheduled_by_a_timer_fires_within_the_same_advance() -> None:
    clock = FakeClock()
    fired: list[float] = []
    clock.call_later(1.0, lambda: clock.call_later(1.0, lambda: fired.append(clock.monotonic())))
    clock.advance(5.0)
    assert fired == [pytest.approx(1002.0)]


def test_system_clock_runs_callbacks_on_its_thread() -> None:
    clock = SystemClock()
    done = threading.Event()
    names: list[str] = []
    clock.call_later(0.01, lambda: (names.append(threading.current_thread().name), done.set()))
    assert done.wait(5)
    assert names == ["wakeful-clock"]
    clock.close()


def test_backoff_grows_and_caps() -> None:
    delay = backoff(initial=0.5, maximum=4.0, jitter=0.0)
    assert [delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
