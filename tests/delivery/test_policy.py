"""What each failure of each kind of call leads to: the delivery rules, without I/O."""

from __future__ import annotations

import pytest

from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.delivery.calls import EditText, Lane, React, SendDraft, SendText, Typing
from wakeful.delivery.policy import (
    REFUSED,
    RESENT,
    ChatIsGone,
    GiveUp,
    Policy,
    Retry,
    Succeeded,
)
from wakeful.delivery.render import Entity, Part

BOLD = Part("hello world", (Entity("bold", 0, 5),))
ANSWER = SendText(1, BOLD, reply_to=7)


def fail(kind: FailureKind, retry_after: float | None = None) -> TelegramFailure:
    return TelegramFailure(kind, f"{kind.value} happened", retry_after)


@pytest.fixture
def policy() -> Policy:
    return Policy(progress_attempts=3, max_backoff=60.0)


def test_an_answer_is_retried_for_as_long_as_it_takes(policy: Policy) -> None:
    for attempts in (1, 10, 1000):
        decision = policy.decide(ANSWER, fail(FailureKind.TRANSIENT), attempts)
        assert isinstance(decision, Retry) and decision.call is None
        assert decision.delay <= 60.0 * 1.5


def test_retry_after_is_honoured(policy: Policy) -> None:
    decision = policy.decide(ANSWER, fail(FailureKind.RETRY_LATER, 7.0), 1)
    assert decision == Retry(7.0)


def test_rejected_formatting_falls_back_to_the_same_text_plain(policy: Policy) -> None:
    decision = policy.decide(ANSWER, fail(FailureKind.ENTITIES), 1)
    assert decision == Retry(0.0, SendText(1, Part("hello world"), reply_to=7))
    edit = EditText(1, 5, BOLD)
    assert policy.decide(edit, fail(FailureKind.ENTITIES), 1) == Retry(0.0, EditText(1, 5, Part(
        "hello world")))


def test_an_answer_telegram_refuses_becomes_a_plain_notice_saying_so(policy: Policy) -> None:
    decision = policy.decide(SendText(1, Part("x"), reply_to=7), fail(FailureKind.BAD_REQUEST), 1)
    assert isinstance(decision, Retry) and isinstance(decision.call, SendText)
    assert decision.call.part.text.startswith(REFUSED) and decision.call.reply_to is None
    refused_again = policy.decide(decision.call, fail(FailureKind.BAD_REQUEST), 1)
    assert refused_again == GiveUp()


def test_a_lost_response_sends_the_answer_again_marked_and_only_once(policy: Policy) -> None:
    decision = policy.decide(ANSWER, fail(FailureKind.AMBIGUOUS), 1)
    assert isinstance(decision, Retry) and isinstance(decision.call, SendText)
    again = decision.call.part
    assert again.text == RESENT + "hello world"
    shift = len(RESENT.encode("utf-16-le")) // 2
    assert again.entities == (Entity("bold", shift, 5),), "formatting moves with the text"
    # Lost again: the marked copy is retried as it is, never marked twice.
    second = policy.decide(decision.call, fail(FailureKind.AMBIGUOUS), 2)
    assert isinstance(second, Retry) and second.call is None


def test_a_chat_that_is_gone_ends_everything(policy: Policy) -> None:
    for call in (ANSWER, React(1, 7), EditText(1, 5, BOLD), Typing(1)):
        assert policy.decide(call, fail(FailureKind.CHAT_GONE), 1) == ChatIsGone()


def test_not_modified_is_success(policy: Policy) -> None:
    assert policy.decide(EditText(1, 5, BOLD), fail(FailureKind.NOT_MODIFIED), 1) == Succeeded()


def test_eyes_are_retried_while_the_answer_is_still_to_come(policy: Policy) -> None:
    eyes = React(1, 7)
    assert isinstance(policy.decide(eyes, fail(FailureKind.TRANSIENT), 50, True), Retry)
    assert policy.decide(eyes, fail(FailureKind.TRANSIENT), 1, False) == GiveUp()
    assert policy.decide(eyes, fail(FailureKind.BAD_REQUEST), 1, True) == GiveUp()


def test_progress_gets_a_few_attempts_and_typing_one(policy: Policy) -> None:
    edit = EditText(1, 5, BOLD)
    assert isinstance(policy.decide(edit, fail(FailureKind.TRANSIENT), 2), Retry)
    assert policy.decide(edit, fail(FailureKind.TRANSIENT), 3) == GiveUp()
    draft = SendDraft(1, 3, BOLD)
    assert policy.decide(draft, fail(FailureKind.TRANSIENT), 3) == GiveUp()
    assert policy.decide(Typing(1), fail(FailureKind.TRANSIENT), 1) == GiveUp()
    refusal = SendText(1, Part("go away"), lane=Lane.PROGRESS)
    assert policy.decide(refusal, fail(FailureKind.TRANSIENT), 3) == GiveUp()
