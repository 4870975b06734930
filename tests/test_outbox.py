"""The outbox on its own: order, splitting, resuming, and what each Telegram refusal leads to."""

from __future__ import annotations

from wakeful.actors import replies
from wakeful.actors.outbox import Outbox, Outgoing
from wakeful.actors.replies import REFUSED, Part
from wakeful.bots.errors import FailureKind, TelegramFailure
from wakeful.state.records import Answer, AnswerKind


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.taken: list[tuple[int | None, int, bool]] = []  # (update_id, index, last)
        self.retries: list[tuple[float, int]] = []
        self.gone: list[str] = []
        self.outbox = Outbox(7, self.sent.append,
                             lambda o, _mid: self.taken.append((o.update_id, o.index, o.last)),
                             lambda delay, seq: self.retries.append((delay, seq)),
                             self.gone.append)

    def deliver_all(self) -> list[str]:
        texts = []
        while self.sent and len(self.outbox):
            head = self.sent[-1]
            texts.append(head.text)
            self.outbox.delivered(head.seq, 1000 + head.seq)
        return texts

    def answered(self) -> list[int | None]:
        return [u for u, _, last in self.taken if last]


def answer(text: str) -> list[Part]:
    return replies.parts(Answer(AnswerKind.ANSWER, text))


def test_second_reply_waits_until_the_first_is_delivered() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("first"))
    r.outbox.deliver(102, 2, answer("second"))
    assert [o.text for o in r.sent] == ["first"], "only one send in flight"
    assert r.deliver_all() == ["first", "second"]
    assert r.answered() == [101, 102]
    assert [o.reply_to for o in r.sent] == [1, 2]


def test_long_reply_is_split_and_only_its_last_part_completes_the_message() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("y" * 5000))
    r.outbox.delivered(r.sent[0].seq, 11)
    assert r.answered() == []
    assert r.taken == [(101, 0, False)], "the first part is recorded on its own"
    r.outbox.delivered(r.sent[1].seq, 12)
    assert [len(o.text) for o in r.sent] == [4096, 904]
    assert r.answered() == [101]


def test_a_delivery_interrupted_by_a_crash_resumes_after_the_parts_already_sent() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("x" * 4096 + "y" * 10), start=1)
    assert [o.text for o in r.sent] == ["y" * 10]
    assert r.deliver_all() == ["y" * 10]
    assert r.answered() == [101]


def test_the_same_answer_is_never_queued_twice() -> None:
    r = Recorder()
    assert r.outbox.deliver(101, 1, answer("once"))
    assert not r.outbox.deliver(101, 1, answer("once"))
    assert r.deliver_all() == ["once"]


def test_an_answer_with_nothing_to_send_is_complete_at_once() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, replies.parts(Answer(AnswerKind.NONE)))
    assert r.sent == [] and r.answered() == [101]


def test_rate_limit_schedules_a_resend_after_retry_after() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("hi"))
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.RETRY_LATER, "429", 3.0))
    assert r.retries == [(3.0, r.sent[0].seq)]
    r.outbox.resend(r.sent[0].seq)
    assert len(r.sent) == 2 and r.sent[1].attempts == 2


def test_a_stored_answer_is_never_given_up_while_the_chat_exists() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("hi"))
    for _ in range(200):
        r.outbox.failed(r.sent[-1].seq, TelegramFailure(FailureKind.TRANSIENT, "502"))
        r.outbox.resend(r.sent[-1].seq)
    assert len(r.outbox) == 1 and r.answered() == []
    assert max(delay for delay, _ in r.retries) <= 60.0 * 1.5, "backoff is capped"
    r.outbox.delivered(r.sent[-1].seq, 5)
    assert r.answered() == [101]


def test_a_chat_that_is_gone_drops_everything_queued_and_says_why() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("a"))
    r.outbox.deliver(102, 2, answer("b"))
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.CHAT_GONE, "blocked"))
    assert len(r.outbox) == 0 and r.outbox.idle
    assert r.gone == ["blocked"]
    assert r.answered() == [], "undelivered, not answered: the journal records it as such"


def test_refused_reply_becomes_a_plain_notice_that_still_completes_the_message() -> None:
    r = Recorder()
    r.outbox.deliver(101, 1, answer("<b>bad"))
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.BAD_REQUEST, "can't parse"))
    notice = r.sent[-1]
    assert notice.text == REFUSED + "can't parse" and notice.reply_to is None
    r.outbox.delivered(notice.seq, 9)
    assert r.answered() == [101]
