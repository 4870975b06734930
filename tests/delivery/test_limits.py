"""The flood-limit windows: what they allow, and that they do not pile up."""

from __future__ import annotations

from wakeful.delivery.limits import SWEEP_EVERY, Limits


def test_a_chat_waits_a_second_between_messages_and_the_bot_thirty_a_second() -> None:
    limits = Limits()
    limits.record(1, counts=True, now=0.0)
    limits.settle(1, counts=True, sent=0.0, now=0.1)
    assert limits.free_at(1, counts=True, now=0.2) == 1.1  # a second after the answer
    assert limits.free_at(2, counts=True, now=0.2) == 0.2
    for chat in range(3, 32):
        limits.record(chat, counts=True, now=0.3)
    # 30 in the last second; the oldest counted from its answer, at 0.1.
    assert limits.free_at(99, counts=True, now=0.4) == 1.1


def test_windows_of_chats_gone_quiet_are_dropped_as_new_chats_keep_coming() -> None:
    """A long-lived bot meets ever more chats (strangers, groups): 20,000 distinct chats,
    each sent one message, must not leave 20,000 windows behind."""
    limits = Limits()
    now = 0.0
    for chat in range(20_000):
        now += 0.034  # Telegram's 30 a second, as the scheduler paces them
        limits.record(chat, counts=True, now=now)
        limits.settle(chat, counts=True, sent=now, now=now + 0.01)
    # Only the chats of the last second (and those since the last sweep) are kept.
    assert limits.tracked() <= SWEEP_EVERY + 31
    limits.forget_idle(now + 2.0)
    assert limits.tracked() == 0


def test_a_group_keeps_its_minute_window_until_the_minute_is_over() -> None:
    limits = Limits()
    limits.record(-100, counts=True, now=0.0)
    limits.settle(-100, counts=True, sent=0.0, now=0.1)
    limits.forget_idle(30.0)
    assert limits.tracked() == 1  # its group window still counts that message
    limits.forget_idle(61.0)
    assert limits.tracked() == 0


def test_a_sweep_keeps_the_window_of_a_call_still_out_so_it_counts_from_its_answer() -> None:
    """A slow answer: sent at 0, answered at 2.5. The chat's next message must wait a
    second after the answer (Telegram may have stamped the call late), sweep or not."""
    limits = Limits()
    limits.record(1, counts=True, now=0.0)
    limits.forget_idle(2.0)  # a sweep while the call is out, past its window
    limits.settle(1, counts=True, sent=0.0, now=2.5)
    assert limits.free_at(1, counts=True, now=2.6) == 3.5
