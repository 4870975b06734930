"""The per-user flood limit on its own: windows, one reply per burst, memory, off."""

from __future__ import annotations

from wakeful.ingest.flood import Flooded, FloodGate, FloodLimit, flood_text

ADA, BO = 1, 2


def test_the_messages_within_the_limit_get_in_and_the_excess_is_refused_with_one_reply() -> None:
    gate = FloodGate(FloodLimit(messages=3, window=60.0))
    assert [gate.check(ADA, 100.0 + i) for i in range(3)] == [None, None, None]
    # The 4th to 10th within the window: refused; only the first says so.
    verdicts = [gate.check(ADA, 104.0 + i) for i in range(7)]
    assert all(v is not None for v in verdicts)
    assert [v.tell for v in verdicts if v is not None] == [True] + [False] * 6
    # The wait is until the oldest message let in leaves the window (100 + 60).
    assert verdicts[0] == Flooded(wait=56.0, tell=True)
    assert verdicts[-1] == Flooded(wait=50.0, tell=False)


def test_users_are_counted_apart() -> None:
    gate = FloodGate(FloodLimit(messages=1, window=10.0))
    assert gate.check(ADA, 0.0) is None
    assert gate.check(BO, 0.0) is None
    assert gate.check(ADA, 1.0) is not None
    assert gate.check(BO, 1.0) is not None


def test_the_window_slides_over_what_got_in_so_a_slower_user_gets_in_again() -> None:
    gate = FloodGate(FloodLimit(messages=2, window=10.0))
    assert gate.check(ADA, 0.0) is None
    assert gate.check(ADA, 5.0) is None
    assert gate.check(ADA, 9.0) == Flooded(wait=1.0, tell=True)
    # At 10 s the first one has left the window (refused ones never counted).
    assert gate.check(ADA, 10.0) is None
    assert gate.check(ADA, 11.0) == Flooded(wait=4.0, tell=False), "same burst: told already"
    assert gate.check(ADA, 15.0) is None


def test_a_new_burst_a_window_later_is_told_again() -> None:
    gate = FloodGate(FloodLimit(messages=1, window=10.0))
    assert gate.check(ADA, 0.0) is None
    assert gate.check(ADA, 1.0) == Flooded(wait=9.0, tell=True)
    assert gate.check(ADA, 10.5) is None
    assert gate.check(ADA, 11.5) == Flooded(wait=9.0, tell=True), "10.5 s since the last reply"


def test_zero_messages_turns_the_limit_off() -> None:
    gate = FloodGate(FloodLimit(messages=0, window=60.0))
    assert all(gate.check(ADA, i * 0.001) is None for i in range(10_000))
    assert gate.users() == 0


def test_users_who_went_quiet_are_forgotten() -> None:
    gate = FloodGate(FloodLimit(messages=2, window=10.0))
    for user in range(1000):
        gate.check(user, 0.0)
    assert gate.users() == 1000
    gate.check(ADA, 20.0)  # a window later the sweep drops everyone quiet since
    assert gate.users() == 1


def test_the_reply_says_when_messages_are_read_again_in_whole_seconds() -> None:
    assert flood_text(39.2) == ("You're sending messages faster than I can take them; I'll read "
                                "again in 40 s.")
    assert flood_text(0.01).endswith("in 1 s.")
