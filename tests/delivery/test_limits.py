"""The flood-limit windows: what they allow, and that they do not pile up."""

from __future__ import annotations

import math

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


def test_a_call_whose_answer_is_lost_fills_the_bot_window_until_the_failure_is_known() -> None:
    """The fault storm's 429 (seed 614497208): a burst of 30 leaves at 0.0; 29 answers
    come at 0.25, chat 1's never does (a read timeout, known at 5.0). Telegram may have
    stamped chat 1's call any time up to then, so until 5.0 it holds its place in the
    bot's 30 a second, however long ago it was sent, and after that it counts from 5.0:
    before the chat's marked resend and before anyone else's 30th."""
    limits = Limits()
    for chat in range(1, 31):
        limits.record(chat, counts=True, now=0.0)
    for chat in range(2, 31):
        limits.settle(chat, counts=True, sent=0.0, now=0.25)
    assert limits.free_at(99, counts=True, now=0.5) == 1.25
    # Over a second after it went out, the lost call still counts (Telegram may be at
    # it now): the 29 answered places free up, its own does not.
    for chat in range(31, 60):
        assert limits.free_at(chat, counts=True, now=1.25) == 1.25
        limits.record(chat, counts=True, now=1.25)
    assert limits.free_at(99, counts=True, now=1.5) == math.inf  # only an answer helps
    for chat in range(31, 60):
        limits.settle(chat, counts=True, sent=1.25, now=1.5)
    assert limits.free_at(99, counts=True, now=2.0) == 2.5

    limits.settle(1, counts=True, sent=0.0, now=5.0)  # the failure is known: count it here
    assert limits.free_at(1, counts=True, now=5.0) == 6.0  # the marked resend waits
    for chat in range(31, 60):
        limits.record(chat, counts=True, now=5.25)
    assert limits.free_at(99, counts=True, now=5.5) == 6.0


def test_a_group_message_whose_answer_is_lost_counts_in_the_minute_from_the_failure() -> None:
    limits = Limits()
    for n in range(20):
        limits.record(-100, counts=True, now=float(n * 2))
        limits.settle(-100, counts=True, sent=float(n * 2), now=n * 2 + 0.1)
    limits.record(-100, counts=True, now=60.5)  # 19 in the minute: it may go
    limits.free_at(7, counts=True, now=121.0)  # others' calls slide the windows along
    limits.settle(-100, counts=True, sent=60.5, now=121.0)  # lost, known a minute later
    limits.forget_idle(150.0)
    assert limits.free_at(-100, counts=True, now=150.0) == 150.0
    for n in range(19):
        limits.record(-100, counts=True, now=150.0 + n * 1.5)
        limits.settle(-100, counts=True, sent=150.0 + n * 1.5, now=150.0 + n * 1.5)
    # 19 since 150 plus the lost one, counted from 121.0: the 21st waits for it to age out.
    assert limits.free_at(-100, counts=True, now=178.0) == 181.0
