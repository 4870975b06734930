"""The outbox on its own: order, splitting, and what each Telegram refusal leads to."""

from __future__ import annotations

from wakeful.actors.outbox import REFUSED, Outbox, Outgoing
from wakeful.bots.errors import FailureKind, TelegramFailure


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.answered: list[int] = []
        self.retries: list[tuple[float, int]] = []
        self.outbox = Outbox(7, self.sent.append, self.answered.append,
                             lambda delay, seq: self.retries.append((delay, seq)))

    def deliver_all(self) -> list[str]:
        texts = []
        while self.sent and len(self.outbox):
            head = self.sent[-1]
            texts.append(head.text)
            self.outbox.delivered(head.seq)
        return texts


def test_second_reply_waits_until_the_first_is_delivered() -> None:
    r = Recorder()
    r.outbox.reply("first", reply_to=1, answers=101)
    r.outbox.reply("second", reply_to=2, answers=102)
    assert [o.text for o in r.sent] == ["first"], "only one send in flight"
    assert r.deliver_all() == ["first", "second"]
    assert r.answered == [101, 102]


def test_long_reply_is_split_and_only_its_last_part_completes_the_message() -> None:
    r = Recorder()
    r.outbox.reply("y" * 5000, reply_to=1, answers=101)
    r.outbox.delivered(r.sent[0].seq)
    assert r.answered == []
    r.outbox.delivered(r.sent[1].seq)
    assert [len(o.text) for o in r.sent] == [4096, 904]
    assert r.answered == [101]


def test_rate_limit_schedules_a_resend_after_retry_after() -> None:
    r = Recorder()
    r.outbox.reply("hi", reply_to=1, answers=101)
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.RETRY_LATER, "429", 3.0))
    assert r.retries == [(3.0, r.sent[0].seq)]
    r.outbox.resend(r.sent[0].seq)
    assert len(r.sent) == 2 and r.sent[1].attempts == 2


def test_blocked_user_drops_everything_queued_but_marks_it_handled() -> None:
    r = Recorder()
    r.outbox.reply("a", reply_to=1, answers=101)
    r.outbox.reply("b", reply_to=2, answers=102)
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.FORBIDDEN, "blocked"))
    assert len(r.outbox) == 0
    assert r.answered == [101, 102]


def test_refused_reply_becomes_a_plain_notice_that_still_completes_the_message() -> None:
    r = Recorder()
    r.outbox.reply("<b>bad", reply_to=1, answers=101)
    r.outbox.failed(r.sent[0].seq, TelegramFailure(FailureKind.BAD_REQUEST, "can't parse"))
    notice = r.sent[-1]
    assert notice.text == REFUSED + "can't parse" and notice.reply_to is None
    r.outbox.delivered(notice.seq)
    assert r.answered == [101]
