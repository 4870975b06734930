"""The outbound scheduler on its own, with time passed in: who goes first, and when."""

from __future__ import annotations

from wakeful.delivery.calls import EditText, Lane, React, SendText, Typing
from wakeful.delivery.limits import Limits, LimitSettings
from wakeful.delivery.render import Part
from wakeful.delivery.schedule import Schedule, Ticket

T0 = 1000.0


def ticket(call: object, at: float = T0, **kw: object) -> Ticket:
    return Ticket(call, at, **kw)  # type: ignore[arg-type]


def send(chat: int, text: str = "answer") -> SendText:
    return SendText(chat, Part(text), reply_to=1)


def drain(schedule: Schedule, now: float = T0) -> list[Ticket]:
    """Everything that may go at `now`, in order, each finished at once."""
    out = []
    while isinstance(found := schedule.next(now), Ticket):
        out.append(found)
        schedule.done(found)
    return out


def unlimited() -> Schedule:
    return Schedule(Limits(LimitSettings(10_000, 10_000, 10_000)), max_in_flight=100)


def test_eyes_go_before_answers_before_progress_before_typing() -> None:
    s = unlimited()
    s.submit(ticket(Typing(1)))
    s.submit(ticket(EditText(1, 5, Part("working"))))
    s.submit(ticket(send(1)))
    s.submit(ticket(React(1, 7)))
    assert [type(t.call).__name__ for t in drain(s)] == ["React", "SendText", "EditText",
                                                         "Typing"]


def test_a_chat_keeps_its_order_and_has_one_answer_part_in_flight_at_a_time() -> None:
    s = unlimited()
    first, second = ticket(send(1, "part 1")), ticket(send(1, "part 2"))
    s.submit(first)
    s.submit(second)
    assert s.next(T0) is first
    assert s.next(T0) is None, "part 2 waits until part 1 is out"
    s.done(first)
    assert s.next(T0) is second


def test_chats_take_turns_so_a_long_answer_does_not_starve_the_others() -> None:
    s = unlimited()
    for n in range(3):
        s.submit(ticket(send(1, f"long {n}")))
    s.submit(ticket(send(2, "short")))
    s.submit(ticket(send(3, "short")))
    assert [t.chat_id for t in drain(s)] == [1, 2, 3, 1, 1]


def test_a_newer_edit_replaces_the_one_still_waiting() -> None:
    s = unlimited()
    s.submit(ticket(send(9)))  # keeps chat 1's edit waiting behind nothing, but...
    old = ticket(EditText(1, 5, Part("queued #9")))
    new = ticket(EditText(1, 5, Part("queued #3")))
    assert s.submit(old) is None
    assert s.submit(new) is old, "superseded"
    sent = drain(s)
    assert [t.call for t in sent if isinstance(t.call, EditText)] == [new.call]


def test_typing_is_dropped_when_it_waited_too_long_to_be_true() -> None:
    s = Schedule(Limits(), max_in_flight=1, urgent_slots=0)
    blocker = ticket(React(2, 1))
    s.submit(blocker)
    s.submit(ticket(Typing(1)))
    assert s.next(T0) is blocker
    assert s.next(T0 + 10) is None, "the only slot is busy"
    s.done(blocker)
    assert s.next(T0 + 10) is None
    assert [type(t.call) for t in s.take_dropped()] == [Typing]


def test_the_last_slots_are_kept_for_eyes_and_answers() -> None:
    s = Schedule(Limits(LimitSettings(1000, 1000, 1000)), max_in_flight=3, urgent_slots=2)
    s.submit(ticket(Typing(1)))
    s.submit(ticket(Typing(2)))
    assert isinstance(s.next(T0), Ticket)
    assert s.next(T0) is None, "typing may not take the urgent slots"
    s.submit(ticket(React(3, 1)))
    assert isinstance(s.next(T0), Ticket), "a 👀 still goes"


def test_one_message_a_second_per_chat_and_thirty_per_bot() -> None:
    s = Schedule(Limits(), max_in_flight=1000)
    for n in range(3):
        s.submit(ticket(send(1, f"part {n}")))
    first = drain(s)
    assert len(first) == 1
    assert s.next(T0) == T0 + 1.0, "the chat's window frees in a second"
    assert len(drain(s, T0 + 1.0)) == 1
    for chat in range(100, 140):
        s.submit(ticket(send(chat)))
    assert len(drain(s, T0 + 1.5)) == 29, "30 a second for the bot (one went at +1.0)"


def test_a_call_counts_from_its_answer_since_telegram_may_have_seen_it_late() -> None:
    s = Schedule(Limits(), max_in_flight=1000)
    s.submit(ticket(send(1, "slow to arrive")))
    s.submit(ticket(send(1, "next")))
    first = s.next(T0)
    assert isinstance(first, Ticket)
    s.done(first, now=T0 + 0.3)  # answered 0.3 s later: it reached Telegram in between
    assert s.next(T0 + 1.0) == T0 + 1.3, "a second after the answer, not after the send"
    assert isinstance(s.next(T0 + 1.3), Ticket)


def test_a_flood_of_refusals_never_holds_back_an_answer_or_a_reaction() -> None:
    s = Schedule(Limits(), max_in_flight=1000)
    for stranger in range(5_000, 5_100):
        s.submit(ticket(SendText(stranger, Part("not on the allowlist"), lane=Lane.PROGRESS)))
    s.submit(ticket(React(1, 7)))
    s.submit(ticket(send(1, "the owner's answer")))
    first = drain(s)
    assert [type(t.call).__name__ for t in first[:2]] == ["React", "SendText"]
    assert first[1].chat_id == 1, "the owner's answer before any refusal"
    assert len(first) == 31, "then refusals, within the bot's 30 a second"


def test_a_chat_has_one_counted_call_out_at_a_time_whatever_its_lane() -> None:
    s = Schedule(Limits(), max_in_flight=1000)
    s.submit(ticket(send(1, "answer")))
    s.submit(ticket(EditText(1, 5, Part("status"))))
    answer = s.next(T0)
    assert isinstance(answer, Ticket) and isinstance(answer.call, SendText)
    s.submit(ticket(React(1, 7), at=T0 + 5.0))
    react = s.next(T0 + 5.0)
    assert isinstance(react, Ticket) and isinstance(react.call, React), "not counted: goes"
    # The answer is slow to come back: Telegram may only now be seeing it.
    assert s.next(T0 + 5.0) is None, "the edit waits for the answer's answer"
    s.done(answer, now=T0 + 6.0)
    assert s.next(T0 + 6.5) == T0 + 7.0
    assert isinstance(s.next(T0 + 7.0), Ticket)


def test_reactions_are_not_messages_and_are_not_held_by_message_limits() -> None:
    s = Schedule(Limits(), max_in_flight=1000)
    for chat in range(100, 160):
        s.submit(ticket(send(chat)))
        s.submit(ticket(React(chat, 1)))
    sent = drain(s)
    assert sum(isinstance(t.call, React) for t in sent) == 60
    assert sum(isinstance(t.call, SendText) for t in sent) == 30


def test_twenty_messages_a_minute_in_a_group() -> None:
    s = Schedule(Limits(LimitSettings(1000, 1000, 20)), max_in_flight=1000)
    for n in range(25):
        s.submit(ticket(send(-5, f"{n}")))
    sent = []
    for second in range(60):
        sent += drain(s, T0 + second)
    assert len(sent) == 20


def test_a_429_pauses_the_whole_bot_for_retry_after() -> None:
    s = unlimited()
    answer = ticket(send(1))
    s.submit(answer)
    assert s.next(T0) is answer
    s.limits.pause(None, T0 + 5)
    assert s.requeue(answer, not_before=T0 + 5)
    s.submit(ticket(React(2, 1)))
    assert s.next(T0 + 1) == T0 + 5, "nothing goes while the bot is paused"
    assert [t.chat_id for t in drain(s, T0 + 5)] == [2, 1]


def test_a_429_for_one_chat_holds_only_that_chat() -> None:
    s = unlimited()
    s.limits.pause(1, T0 + 5)
    s.submit(ticket(send(1)))
    s.submit(ticket(send(2)))
    assert [t.chat_id for t in drain(s, T0 + 1)] == [2]


def test_a_chat_that_is_gone_loses_everything_it_had_waiting() -> None:
    s = unlimited()
    for call in (send(1), EditText(1, 5, Part("x")), Typing(1), send(2)):
        s.submit(ticket(call))
    gone = s.drop(1)
    assert len(gone) == 3
    assert [t.chat_id for t in drain(s)] == [2]


def test_a_retry_goes_first_in_its_chat_unless_a_newer_edit_replaced_it() -> None:
    s = unlimited()
    edit = ticket(EditText(1, 5, Part("v1")))
    s.submit(edit)
    assert s.next(T0) is edit
    newer = ticket(EditText(1, 5, Part("v2")))
    s.submit(newer)
    assert not s.requeue(edit, T0 + 1), "v2 carries on instead"
    assert drain(s, T0 + 1) == [newer]


def test_a_send_whose_answer_was_lost_is_resent_a_second_after_the_failure_was_known() -> None:
    """The outbound actor's path for a lost answer: requeue, with the moment the read
    timeout came as `now`. Meanwhile the lost call keeps its place in the bot's 30 a
    second, so a burst of others can only take the other 29."""
    s = Schedule(Limits(), max_in_flight=1000)
    s.submit(ticket(send(1, "lost on the way back")))
    lost = s.next(T0)
    assert isinstance(lost, Ticket)
    for chat in range(100, 140):
        s.submit(ticket(send(chat), at=T0 + 2.0))
    assert len(drain(s, T0 + 2.0)) == 29, "the lost call, 2 s old, still holds its place"
    assert len(drain(s, T0 + 3.5)) == 11
    assert s.requeue(lost, not_before=T0 + 5.5, now=T0 + 5.0)  # the timeout, at +5
    assert s.next(T0 + 5.5) == T0 + 6.0, "a second after the failure, not after the send"
    assert isinstance(s.next(T0 + 6.0), Ticket)
