"""The chat's approval desk on its own: every question gets exactly one answer to the
brain, whatever Telegram does with the question and whenever the turn ends."""

from __future__ import annotations

from typing import Any

from wakeful.actors.approval_desk import (
    OFF_MESSAGE,
    UNASKED_MESSAGE,
    ApprovalDesk,
    ApprovalSettings,
    ApprovalTag,
)
from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.conversation import approvals, commands
from wakeful.delivery.calls import AnswerCallback, EditText, Lane, SendText
from wakeful.messages import (
    ApprovalAnswered,
    ApprovalRequested,
    ApprovalTimedOut,
    ButtonPressed,
    Delivered,
    DeliveryFailed,
)

CHAT = 42


class _Journal:
    def __init__(self) -> None:
        self.grants: set[tuple[int, str]] = set()

    def granted_tools(self, chat_id: int) -> frozenset[str]:
        return frozenset(tool for chat, tool in self.grants if chat == chat_id)

    def grant_tool(self, chat_id: int, tool: str, at: float) -> None:
        self.grants.add((chat_id, tool))

    def revoke_tool(self, chat_id: int, tool: str) -> bool:
        had = (chat_id, tool) in self.grants
        self.grants.discard((chat_id, tool))
        return had

    def revoke_all_tools(self, chat_id: int) -> int:
        mine = {grant for grant in self.grants if grant[0] == chat_id}
        self.grants -= mine
        return len(mine)


class _World:
    def __init__(self, **settings: Any) -> None:
        self.said: list[tuple[Any, Any]] = []
        self.pool: list[Any] = []
        self.timers: list[tuple[float, Any]] = []
        self.journal = _Journal()
        self.desk = ApprovalDesk(
            CHAT, ApprovalSettings(**{"enabled": True, "timeout": 60.0, **settings}),
            self.journal,  # type: ignore[arg-type]
            lambda call, tag: self.said.append((call, tag)), self.pool.append,
            lambda delay, message: self.timers.append((delay, message)), lambda: 1000.0)

    def ask(self, tool: str = "Bash", turn: str = "t1", request: str = "r1") -> str:
        self.desk.requested(ApprovalRequested(CHAT, turn, request, tool, {"command": "ls"}), 7)
        call, tag = self.said[-1]
        assert isinstance(call, SendText) and isinstance(tag, ApprovalTag)
        return tag.approval_id

    def shown(self, approval_id: str, message_id: int = 70) -> None:
        call = next(c for c, t in self.said if isinstance(t, ApprovalTag)
                    and t.approval_id == approval_id and t.what == "ask")
        self.desk.on_result(Delivered(call, message_id, ApprovalTag(approval_id, "ask")))

    def press(self, approval_id: str, choice: approvals.Choice, message_id: int = 70) -> None:
        self.desk.pressed(ButtonPressed(CHAT, message_id, 5, "q", approvals.callback_data(
            approval_id, choice), "Ann"))


def test_the_question_goes_out_urgent_with_buttons_and_a_timer() -> None:
    world = _World()
    approval_id = world.ask()
    call, _ = world.said[-1]
    assert call.lane is Lane.ACK and call.reply_to == 7
    assert call.keyboard == approvals.buttons(approval_id)
    assert call.part.text == approvals.request_text("Bash: ls")
    assert world.timers == [(60.0, ApprovalTimedOut(approval_id))]
    assert world.pool == [] and world.desk.waiting == 1


def test_listed_and_always_granted_tools_are_answered_at_once_without_a_question() -> None:
    world = _World(allowed_tools=("Read",))
    world.journal.grant_tool(CHAT, "Bash", 0)
    for tool in ("Read", "Bash"):
        world.desk.requested(ApprovalRequested(CHAT, "t1", tool, tool, {}), None)
    assert world.pool == [ApprovalAnswered(CHAT, "t1", "Read", True, ""),
                          ApprovalAnswered(CHAT, "t1", "Bash", True, "")]
    assert world.said == []
    off = _World(enabled=False)
    off.desk.requested(ApprovalRequested(CHAT, "t1", "r", "Bash", {}), None)
    assert off.pool == [ApprovalAnswered(CHAT, "t1", "r", False, OFF_MESSAGE)]


def test_a_question_telegram_would_not_take_is_denied_at_once() -> None:
    world = _World()
    approval_id = world.ask()
    call, tag = world.said[-1]
    world.desk.on_result(DeliveryFailed(call, TelegramFailure(FailureKind.BAD_REQUEST, "no"),
                                        tag))
    assert world.pool == [ApprovalAnswered(CHAT, "t1", "r1", False, UNASKED_MESSAGE)]
    world.desk.timed_out(ApprovalTimedOut(approval_id))  # already settled: nothing more
    assert len(world.pool) == 1


def test_a_press_before_telegram_confirmed_the_question_edits_it_once_confirmed() -> None:
    world = _World()
    approval_id = world.ask()
    world.desk.pressed(ButtonPressed(CHAT, 70, 5, "q", approvals.callback_data(
        approval_id, approvals.Choice.DENY), "Ann"))
    assert world.pool == [ApprovalAnswered(CHAT, "t1", "r1", False,
                                           "The user denied this tool call.")]
    assert not any(isinstance(c, EditText) for c, _ in world.said)
    world.shown(approval_id)
    edit, tag = world.said[-1]
    assert isinstance(edit, EditText) and edit.message_id == 70 and edit.keyboard == ()
    assert edit.part.text.endswith("❌ denied by Ann") and tag.what == "outcome"


def test_always_is_stored_and_a_second_press_is_told_it_is_too_late() -> None:
    world = _World()
    approval_id = world.ask()
    world.shown(approval_id)
    world.press(approval_id, approvals.Choice.ALWAYS)
    world.press(approval_id, approvals.Choice.DENY)
    assert world.journal.grants == {(CHAT, "Bash")}
    assert world.pool == [ApprovalAnswered(CHAT, "t1", "r1", True, "")]
    answers = [c.text for c, _ in world.said if isinstance(c, AnswerCallback)]
    assert answers == ["✅ always allowed in this chat", approvals.STALE_TEXT]


def test_a_revoked_always_grant_is_asked_about_again_on_the_next_call() -> None:
    world = _World()
    first = world.ask(request="r1")
    world.shown(first)
    world.press(first, approvals.Choice.ALWAYS)
    world.desk.requested(ApprovalRequested(CHAT, "t1", "r2", "Bash", {}), None)
    assert world.pool[-1] == ApprovalAnswered(CHAT, "t1", "r2", True, ""), "granted: no question"
    asked = len(world.said)

    assert world.desk.revoke("bash") == commands.tool_revoked("Bash")
    assert world.journal.grants == set()
    world.ask(request="r3")  # a question again (ask() checks it went out)
    assert len(world.said) == asked + 1 and world.desk.waiting == 1
    assert world.pool[-1].request_id == "r2", "r3 waits for a person"


def test_revoking_lists_and_takes_back_only_this_chats_grants() -> None:
    world = _World()
    world.journal.grants = {(CHAT, "Bash"), (CHAT, "Write"), (CHAT + 1, "Bash")}
    assert world.desk.grants_text() == commands.tools_text({"Bash", "Write"}, approvals=True)
    assert world.desk.revoke("Read") == commands.tool_not_granted("Read", {"Bash", "Write"})
    assert world.desk.revoke(None) == commands.tools_revoked(2)
    assert world.journal.grants == {(CHAT + 1, "Bash")}
    assert world.desk.revoke(None) == commands.tools_revoked(0)
    assert world.desk.grants_text() == commands.tools_text((), approvals=True)
    off = _World(enabled=False)
    assert off.desk.grants_text() == commands.tools_text((), approvals=False)


def test_a_press_on_another_message_with_the_same_id_is_refused() -> None:
    world = _World()
    approval_id = world.ask()
    world.shown(approval_id, message_id=70)
    world.press(approval_id, approvals.Choice.ONCE, message_id=71)
    assert world.pool == []
    world.press(approval_id, approvals.Choice.ONCE, message_id=70)
    assert world.pool == [ApprovalAnswered(CHAT, "t1", "r1", True, "")]


def test_the_timeout_denies_and_a_turn_that_ended_closes_its_open_questions() -> None:
    world = _World()
    first, second = world.ask(request="r1"), world.ask(request="r2")
    world.shown(first)
    world.shown(second, message_id=71)
    world.desk.timed_out(ApprovalTimedOut(first))
    assert world.pool[0].allow is False and "within 60 s" in world.pool[0].message
    world.desk.turn_over("t1")
    assert len(world.pool) == 1, "the brain that asked is gone: nobody to answer"
    edits = [c.part.text for c, _ in world.said if isinstance(c, EditText)]
    assert edits[0].endswith("⌛ timed out (denied)")
    assert edits[1].endswith("⏹ no longer needed: the turn ended")
    assert world.desk.waiting == 0
