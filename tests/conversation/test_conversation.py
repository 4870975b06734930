"""The conversation's rules, event by event: what each message becomes in each mode. Pure."""

from __future__ import annotations

import itertools

import pytest

from wakeful.actors.replies import CANNOT_READ
from wakeful.conversation import commands
from wakeful.conversation.actions import (
    CancelTurn,
    FollowUp,
    Forget,
    MarkTaken,
    NewSession,
    Reply,
    RevokeTools,
    SaveMode,
    ShowStatus,
    ShowTools,
    StartTurn,
)
from wakeful.conversation.conversation import Conversation
from wakeful.conversation.modes import Mode
from wakeful.messages import Attachment, IncomingMessage
from wakeful.state.records import Answer, AnswerKind

CHAT = 4242
GROUP = -100123


def msg(update_id: int, text: str | None, chat: int = CHAT, user: int | None = CHAT,
        name: str | None = "Ann", **fields: object) -> IncomingMessage:
    return IncomingMessage(update_id, chat, 100 + update_id, user, text, 0.0,
                           sender_name=name, **fields)  # type: ignore[arg-type]


def conversation(mode: Mode, chat: int = CHAT, **kwargs: object) -> Conversation:
    ids = itertools.count(1)
    return Conversation(chat, mode, lambda: f"t{next(ids)}", **kwargs)  # type: ignore[arg-type]


def reply_text(action: object) -> str:
    assert isinstance(action, Reply), action
    return action.answer.text


def started(conv: Conversation, first: IncomingMessage) -> StartTurn:
    """`first` arrives in an idle chat and its turn starts."""
    assert conv.receive(first) == []
    [start] = conv.next_turn()
    assert isinstance(start, StartTurn)
    return start


# --- commands ----------------------------------------------------------------------


def test_start_and_help_are_answered_at_once_and_never_queued() -> None:
    conv = conversation(Mode.STEER)
    [start] = conv.receive(msg(1, "/start"))
    assert "4242" in reply_text(start)
    [help_] = conv.receive(msg(2, "/help"))
    assert reply_text(help_) == commands.help_text(Mode.STEER)
    assert conv.queued == 0 and conv.next_turn() == []


def test_an_unknown_command_gets_the_help_and_never_reaches_the_brain() -> None:
    conv = conversation(Mode.QUEUE)
    [answer] = conv.receive(msg(1, "/frobnicate please"))
    assert reply_text(answer) == commands.unknown_text("frobnicate", Mode.QUEUE)
    assert conv.next_turn() == []


def test_status_asks_the_actor_for_the_facts() -> None:
    conv = conversation(Mode.STEER)
    status = msg(1, "/status")
    assert conv.receive(status) == [ShowStatus(status)]


def test_tools_asks_the_actor_for_the_grants_even_while_a_turn_runs() -> None:
    conv = conversation(Mode.STEER)
    started(conv, msg(1, "work"))
    conv.turn_started("t1")
    tools = msg(2, "/tools")
    assert conv.receive(tools) == [ShowTools(tools)]
    assert conv.queued == 0, "answered now, not queued behind the turn"


@pytest.mark.parametrize(("text", "tool"), [
    ("/tools revoke Bash", "Bash"),
    ("/tools REVOKE mcp__github__create_issue", "mcp__github__create_issue"),
    ("/tools revoke all", None),
    ("/tools@wakeful_bot revoke ALL", None),
])
def test_tools_revoke_names_one_tool_or_all(text: str, tool: str | None) -> None:
    conv = conversation(Mode.QUEUE)
    message = msg(1, text)
    assert conv.receive(message) == [RevokeTools(message, tool)]


@pytest.mark.parametrize("text", ["/tools revoke", "/tools remove Bash",
                                  "/tools revoke Bash Write", "/tools list"])
def test_a_tools_command_it_cannot_read_gets_the_usage_and_revokes_nothing(text: str) -> None:
    conv = conversation(Mode.STEER)
    [said] = conv.receive(msg(1, text))
    assert reply_text(said) == commands.TOOLS_USAGE
    assert conv.queued == 0 and conv.next_turn() == []


def test_mode_without_argument_shows_it_with_the_choices() -> None:
    conv = conversation(Mode.COLLECT)
    [shown] = conv.receive(msg(1, "/mode"))
    assert reply_text(shown) == commands.mode_text(Mode.COLLECT)


def test_mode_sets_and_saves_the_mode() -> None:
    conv = conversation(Mode.STEER)
    save, said = conv.receive(msg(1, "/mode Queue"))
    assert save == SaveMode(Mode.QUEUE) and conv.mode is Mode.QUEUE
    assert reply_text(said) == commands.mode_set(Mode.QUEUE)


def test_an_unknown_mode_changes_nothing() -> None:
    conv = conversation(Mode.STEER)
    [said] = conv.receive(msg(1, "/mode fast"))
    assert reply_text(said) == commands.mode_unknown("fast") and conv.mode is Mode.STEER


def test_cancel_with_nothing_running_says_so() -> None:
    conv = conversation(Mode.STEER)
    [said] = conv.receive(msg(1, "/cancel"))
    assert reply_text(said) == commands.NOTHING_TO_CANCEL


def test_cancel_stops_the_running_turn_and_keeps_the_queue() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "long job"))
    conv.receive(msg(2, "next"))
    cancel = msg(3, "/cancel")
    assert conv.receive(cancel) == [CancelTurn(start.turn_id),
                                    Reply(cancel, Answer(AnswerKind.NONE))]
    assert conv.queued == 1
    assert conv.turn_finished(start.turn_id, ()) == []
    [nxt] = conv.next_turn()
    assert isinstance(nxt, StartTurn) and nxt.prompt == "next"


def test_cancel_all_also_cancels_every_waiting_message_with_a_short_reply() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "long job"))
    waiting = [msg(2, "a"), msg(3, "b")]
    for m in waiting:
        conv.receive(m)
    cancel = msg(4, "/cancel all")
    out = conv.receive(cancel)
    assert out[:2] == [Reply(m, Answer(AnswerKind.CANCELLED, commands.CANCELLED_QUEUED))
                       for m in waiting]
    assert out[2] == CancelTurn(start.turn_id)
    assert reply_text(out[3]) == commands.cancelled_queued(2)
    assert conv.queued == 0


def test_cancel_all_with_only_a_waiting_queue_cancels_the_queue() -> None:
    conv = conversation(Mode.QUEUE)
    conv.receive(msg(1, "a"))  # not started: next_turn was not called
    out = conv.receive(msg(2, "/cancel ALL"))
    assert [type(a) for a in out] == [Reply, Reply]
    assert out[0].answer.kind is AnswerKind.CANCELLED  # type: ignore[union-attr]
    assert reply_text(out[1]) == commands.cancelled_queued(1)


def test_cancel_all_keeps_a_waiting_new_because_it_is_an_order_not_work() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "job"))
    conv.receive(msg(2, "/new"))
    conv.receive(msg(3, "/cancel all"))
    assert [m.text for m in conv.queue] == ["/new"]
    conv.turn_finished(start.turn_id, ())
    assert [type(a) for a in conv.next_turn()] == [NewSession, Reply]


def test_cancel_all_cancels_follow_ups_the_brain_did_not_take() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "job"))
    conv.turn_started(start.turn_id)
    pending, refused = msg(2, "also this"), msg(3, "and this")
    conv.receive(pending)
    conv.receive(refused)  # sent too: the first is not refused yet
    conv.receive(msg(4, "/cancel all"))
    assert conv.follow_up_refused(start.turn_id, 3) == [
        Reply(refused, Answer(AnswerKind.CANCELLED, commands.CANCELLED_QUEUED))]
    out = conv.turn_finished(start.turn_id, ())
    assert out == [Reply(pending, Answer(AnswerKind.CANCELLED, commands.CANCELLED_QUEUED))]
    assert conv.queued == 0


def test_new_waits_its_turn_then_starts_a_new_session() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "old topic"))
    new = msg(2, "/new")
    assert conv.receive(new) == []
    conv.receive(msg(3, "new topic"))
    conv.turn_finished(start.turn_id, ())
    out = conv.next_turn()
    assert out[:2] == [NewSession(), Reply(new, Answer(AnswerKind.REPLY, commands.NEW_SESSION))]
    assert isinstance(out[2], StartTurn) and out[2].prompt == "new topic"


def test_a_message_without_text_gets_a_reply_a_file_with_no_caption_does_not() -> None:
    conv = conversation(Mode.QUEUE)
    [said] = conv.receive(msg(1, None))
    assert reply_text(said) == CANNOT_READ
    [said] = conv.receive(msg(2, "   "))
    assert reply_text(said) == CANNOT_READ
    photo = msg(3, None, attachments=(Attachment("photo", "f", "u"),))
    assert conv.receive(photo) == [] and conv.queued == 1


# --- queue mode ----------------------------------------------------------------------


def test_queue_mode_runs_one_turn_per_message_in_order() -> None:
    conv = conversation(Mode.QUEUE)
    first = started(conv, msg(1, "one"))
    conv.turn_started(first.turn_id)
    assert conv.receive(msg(2, "two")) == [] and conv.receive(msg(3, "three")) == []
    assert conv.next_turn() == []  # one turn at a time
    conv.turn_finished(first.turn_id, ())
    [second] = conv.next_turn()
    assert isinstance(second, StartTurn) and (second.prompt, second.also) == ("two", ())
    conv.turn_finished(second.turn_id, ())
    [third] = conv.next_turn()
    assert isinstance(third, StartTurn) and third.prompt == "three"


# --- collect mode --------------------------------------------------------------------


def test_collect_mode_makes_one_next_turn_of_everything_that_waited() -> None:
    conv = conversation(Mode.COLLECT)
    first = started(conv, msg(1, "one"))
    conv.turn_started(first.turn_id)
    assert conv.receive(msg(2, "two")) == [] and conv.receive(msg(3, "three")) == []
    conv.turn_finished(first.turn_id, ())
    merged, *marks = conv.next_turn()
    assert isinstance(merged, StartTurn)
    assert merged.message.update_id == 2 and merged.also == (3,)
    assert merged.prompt == "two\n\nthree"
    # No reply of its own will come for "three": its sender sees 👌 instead.
    assert [m.message.update_id for m in marks if isinstance(m, MarkTaken)] == [3]


def test_collect_stops_merging_at_a_new() -> None:
    conv = conversation(Mode.COLLECT)
    first = started(conv, msg(1, "one"))
    for i, text in ((2, "a"), (3, "/new"), (4, "b")):
        conv.receive(msg(i, text))
    conv.turn_finished(first.turn_id, ())
    [turn] = conv.next_turn()
    assert isinstance(turn, StartTurn) and turn.prompt == "a" and turn.also == ()
    conv.turn_finished(turn.turn_id, ())
    out = conv.next_turn()
    assert isinstance(out[0], NewSession) and isinstance(out[2], StartTurn)
    assert out[2].prompt == "b"


def test_merged_messages_are_forgotten_when_the_turn_lists_them() -> None:
    conv = conversation(Mode.COLLECT)
    for i in (1, 2, 3):
        conv.receive(msg(i, f"m{i}"))
    turn, *_marks = conv.next_turn()
    assert isinstance(turn, StartTurn) and turn.also == (2, 3)
    assert conv.turn_finished(turn.turn_id, (2, 3)) == [Forget((2, 3))]


def test_merged_messages_a_pool_did_not_list_are_closed_by_the_chat() -> None:
    conv = conversation(Mode.COLLECT)
    second = msg(2, "m2")
    conv.receive(msg(1, "m1"))
    conv.receive(second)
    turn, mark = conv.next_turn()
    assert mark == MarkTaken(second)
    assert conv.turn_finished(turn.turn_id, ()) == [  # type: ignore[union-attr]
        Reply(second, Answer(AnswerKind.NONE))]


# --- steer and interrupt -------------------------------------------------------------


@pytest.mark.parametrize(("mode", "interrupt"), [(Mode.STEER, False), (Mode.INTERRUPT, True)])
def test_a_message_while_the_turn_runs_goes_into_it(mode: Mode, interrupt: bool) -> None:
    conv = conversation(mode)
    start = started(conv, msg(1, "write the tests"))
    assert conv.turn_started(start.turn_id) == []
    later = msg(2, "also run them")
    assert conv.receive(later) == [FollowUp(start.turn_id, later, "also run them", interrupt)]
    assert conv.follow_up_taken(start.turn_id, 2) == [MarkTaken(later)]
    assert conv.turn_finished(start.turn_id, (2,)) == [Forget((2,))]
    assert conv.queued == 0 and conv.next_turn() == []


def test_messages_sent_while_the_turn_waits_in_line_join_it_once_it_starts() -> None:
    conv = conversation(Mode.INTERRUPT)
    start = started(conv, msg(1, "one"))
    waiting = [msg(2, "two"), msg(3, "three")]
    for m in waiting:
        assert conv.receive(m) == []  # no brain runs yet: nothing to steer
    # Nothing to interrupt yet either: they join as plain follow-ups.
    assert conv.turn_started(start.turn_id) == [
        FollowUp(start.turn_id, m, m.text or "", False) for m in waiting]
    assert conv.queued == 0


def test_a_refused_follow_up_waits_for_the_next_turn_and_keeps_its_place() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "one"))
    conv.turn_started(start.turn_id)
    conv.receive(msg(2, "two"))
    conv.receive(msg(3, "three"))
    assert conv.follow_up_refused(start.turn_id, 3) == []
    assert conv.follow_up_refused(start.turn_id, 2) == []
    assert [m.update_id for m in conv.queue] == [2, 3]
    # While they wait, newer messages wait behind them instead of jumping ahead.
    assert conv.receive(msg(4, "four")) == []
    conv.turn_finished(start.turn_id, ())
    nxt, *marks = conv.next_turn()
    assert isinstance(nxt, StartTurn) and nxt.prompt == "two\n\nthree\n\nfour"
    assert len(marks) == 2


def test_a_follow_up_the_finished_turn_does_not_list_is_run_again() -> None:
    """A pool that ignores follow-ups, or a brain that ended first: nothing is lost."""
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "one"))
    conv.turn_started(start.turn_id)
    taken, lost = msg(2, "two"), msg(3, "three")
    conv.receive(taken)
    conv.receive(lost)
    conv.follow_up_taken(start.turn_id, 2)
    assert conv.turn_finished(start.turn_id, (2,)) == [Forget((2,))]
    [nxt] = conv.next_turn()
    assert isinstance(nxt, StartTurn) and nxt.message == lost
    # A late refusal for the finished turn changes nothing.
    assert conv.follow_up_refused(start.turn_id, 3) == []


def test_a_retry_pauses_steering_until_the_next_attempt_starts() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "one"))
    conv.turn_started(start.turn_id)
    conv.turn_paused(start.turn_id)
    later = msg(2, "two")
    assert conv.receive(later) == []
    assert conv.turn_started(start.turn_id) == [FollowUp(start.turn_id, later, "two", False)]


def test_a_new_waiting_keeps_later_messages_out_of_the_old_sessions_turn() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "old"))
    conv.turn_started(start.turn_id)
    conv.receive(msg(2, "/new"))
    assert conv.receive(msg(3, "fresh")) == []
    assert [m.update_id for m in conv.queue] == [2, 3]


def test_a_message_whose_files_are_not_in_yet_is_not_a_follow_up() -> None:
    ready: set[int] = set()
    conv = conversation(Mode.STEER, ready=lambda m: m.update_id not in {2} or 2 in ready)
    start = started(conv, msg(1, "one"))
    conv.turn_started(start.turn_id)
    assert conv.receive(msg(2, "look", attachments=(Attachment("photo", "f", "u"),))) == []
    conv.turn_finished(start.turn_id, ())
    assert conv.next_turn() == []  # still downloading: it holds up the chat
    ready.add(2)
    [nxt] = conv.next_turn()
    assert isinstance(nxt, StartTurn) and nxt.message.update_id == 2


def test_events_for_another_turn_are_ignored() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "one"))
    assert conv.turn_started("other") == [] and conv.turn_finished("other", (1,)) == []
    assert conv.follow_up_taken("other", 1) == []
    assert conv.follow_up_taken(start.turn_id, 99) == []
    assert conv.is_current(start.turn_id)


# --- groups --------------------------------------------------------------------------


def test_in_groups_each_message_names_its_sender() -> None:
    conv = conversation(Mode.COLLECT, chat=GROUP)
    conv.receive(msg(1, "hi", chat=GROUP, user=11, name="Alice"))
    conv.receive(msg(2, "yo", chat=GROUP, user=12, name=None))
    conv.receive(msg(3, "hm", chat=GROUP, user=None, name=None))
    turn, *_marks = conv.next_turn()
    assert isinstance(turn, StartTurn)
    assert turn.prompt == "Alice (id 11): hi\n\nSomeone (id 12): yo\n\nSomeone: hm"


def test_in_private_chats_the_prompt_is_the_text() -> None:
    conv = conversation(Mode.STEER)
    start = started(conv, msg(1, "hi", name="Alice"))
    assert start.prompt == "hi"


def test_the_brain_reads_what_text_of_says() -> None:
    conv = conversation(Mode.QUEUE, text_of=lambda m: f"{m.text} [file]")
    assert started(conv, msg(1, "see")).prompt == "see [file]"


# --- stopping --------------------------------------------------------------------------


def test_gone_drops_everything_and_names_the_turn_to_cancel() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "one"))
    conv.receive(msg(2, "two"))
    assert conv.gone() == start.turn_id
    assert conv.turn is None and conv.queued == 0 and conv.gone() is None


def test_wind_down_leaves_the_waiting_messages_to_the_journal() -> None:
    conv = conversation(Mode.QUEUE)
    start = started(conv, msg(1, "one"))
    conv.receive(msg(2, "two"))
    conv.wind_down()
    assert conv.queued == 0 and conv.is_current(start.turn_id)


def test_withdraw_takes_one_waiting_message_out_and_keeps_the_rest_in_order() -> None:
    conv = conversation(Mode.QUEUE)
    for update_id in (1, 2, 3):
        conv.receive(msg(update_id, f"m{update_id}"))
    assert conv.withdraw(2) == msg(2, "m2")
    assert conv.withdraw(2) is None and conv.withdraw(99) is None
    assert [m.update_id for m in conv.queue] == [1, 3]


def test_drop_waiting_keeps_a_new() -> None:
    conv = conversation(Mode.QUEUE)
    for i, text in ((1, "a"), (2, "/new"), (3, "b")):
        conv.receive(msg(i, text))
    assert [m.update_id for m in conv.drop_waiting()] == [1, 3]
    assert [m.text for m in conv.queue] == ["/new"]
