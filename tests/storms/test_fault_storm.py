"""A storm with faults everywhere at once, on a seeded schedule, and the invariants after it.

The real tree over real HTTP (the local Bot API server), stand-in brains. While 40
chats write 4 messages each, the storm injects, at random moments chosen by the seed:
brains that crash, hang, retry an overloaded API or print garbage; Telegram 5xx, 429s,
lost responses (a dropped connection, a read timeout), a 409 from a second poller and a
failed 👀; chat actors that raise in the middle of a handler or wedge until the
watchdog replaces them. Afterwards, from what Telegram saw: every message has one
answer (the echo, or a clear failure note for a brain that kept failing), in the chat's
order; a copy only where a response was lost, and marked; never more brains than the
cap, none left; the poller's heartbeat never older than its threshold; calls per
message under a bound.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from tests.brain.conftest import assert_no_leftovers
from tests.conftest import BotApi
from tests.storms import invariants
from tests.supervision.faults import FaultyJournal
from wakeful.actors import replies
from wakeful.config import WatchdogConfig
from wakeful.delivery.policy import RESENT
from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import RateLimits

CHATS = [950_000 + n for n in range(40)]
PER_CHAT = 4
CAP = 4
STALE_AFTER = 3.0
HANG_AFTER = 2.0  # a brain silent this long is stopped (and retried once)
CALLS_PER_MESSAGE = 8.0  # retries of failed calls on top of the storm's usual five


def _text(rng: random.Random, chat: int, n: int) -> tuple[str, bool]:
    """A message, and whether its brain fails for good (a failure note is its answer)."""
    roll = rng.random()
    if roll < 0.04:
        return f"{chat} #{n} [[hang]]", True
    if roll < 0.08:
        return f"{chat} #{n} [[exit 3]]", True
    if roll < 0.16:
        return f"{chat} #{n} [[retry 2]] overloaded first", False
    if roll < 0.22:
        return f"{chat} #{n} [[garbage]] noisy", False
    if roll < 0.28:
        return f"{chat} #{n} ünïcödé 😀🇫🇷 中文 " + "🚀" * rng.randint(1, 200), False
    return f"{chat} #{n}", False


@pytest.mark.timeout(600)
def test_a_storm_with_faults_everywhere_keeps_every_promise(
    bot_api: BotApi, service, tmp_path: Path, storm_random: random.Random
) -> None:
    rng = storm_random
    brain_log = tmp_path / "brains.log"
    config = bot_api.config(CHATS, brain_delay=0.3, cap=CAP, brain_log=brain_log,
                            max_attempts=2, retry_initial_delay=0.1, retry_max_delay=0.3,
                            first_event_timeout=HANG_AFTER, idle_timeout=HANG_AFTER,
                            kill_grace=0.5)
    config = replace(config, watchdog=WatchdogConfig(heartbeat_interval=0.3,
                                                     stale_after=STALE_AFTER))
    journal = FaultyJournal(config.journal.path, "normal")
    svc, _gateway = service(config, journal=journal)
    core = bot_api.core
    core.set_limits(RateLimits())

    beats = invariants.PollerBeats(svc).start()

    telegram_faults = [
        lambda: core.fail_next("sendMessage", 502, "Bad Gateway", times=3),
        lambda: core.fail_next("sendMessage", 429, retry_after=1),
        lambda: core.fail_next("setMessageReaction", 502, "Bad Gateway"),
        lambda: core.fail_next("editMessageText", 500, "Internal Server Error", times=2),
        lambda: core.lose_next_response("sendMessage"),
        lambda: core.lose_next_response("sendMessage", mode="hang"),  # a read timeout
        lambda: core.fail_next("getUpdates", 502, "Bad Gateway", times=2),
        lambda: core.fail_next("getUpdates", 409, "Conflict: terminated by other "
                               "getUpdates request; make sure that only one bot instance "
                               "is running"),
    ]
    crashing = rng.sample(CHATS, 3)
    wedged = rng.choice([c for c in CHATS if c not in crashing])
    sent: list[UserMessage] = []
    failing: set[tuple[int, int]] = set()
    order = [(chat, n) for n in range(PER_CHAT) for chat in CHATS]
    fault_at = {rng.randrange(len(order)): fault for fault in telegram_faults}
    for index, (chat, n) in enumerate(order):
        if index in fault_at:
            fault_at[index]()
        if n == 1 and chat in crashing:
            journal.fail_next(f"session:{chat}")  # raises inside the chat's handler
        if n == 1 and chat == wedged:
            journal.wedge_next(f"session:{chat}")  # hangs there until the watchdog acts
        text, fails = _text(rng, chat, n)
        update = core.inject_text(chat, text, user_id=chat)
        message = UserMessage(chat, update["message"]["message_id"], text, time.monotonic())
        sent.append(message)
        if fails:
            failing.add((chat, message.message_id))
        time.sleep(rng.uniform(0.0, 0.02))

    def first_answers(c: object) -> bool:
        return all(any(r.kind == "message" and r.reply_to_message_id == m.message_id
                       for r in core.sent(m.chat_id)) for m in sent)

    started = time.monotonic()
    try:
        assert core.wait_for(first_answers, timeout=300), [
            f"chat {m.chat_id} message {m.message_id} {m.text[:30]!r}" for m in sent
            if not any(r.kind == "message" and r.reply_to_message_id == m.message_id
                       for r in core.sent(m.chat_id))][:10]
    finally:
        poller_ages = beats.stop()
        journal.release_all()

    problems: list[str] = []
    lost = core.lost_responses().get("sendMessage", 0)
    marked = 0
    for message in sent:
        answers = [r.text or "" for r in core.sent(message.chat_id) if r.kind == "message"
                   and r.reply_to_message_id == message.message_id]
        where = f"chat {message.chat_id} message {message.message_id} ({message.text[:40]!r})"
        # A send whose response was lost goes again, marked; the first may or may not
        # have been carried out (Telegram can fail it and lose the answer to that too),
        # and a resend can lose its response too: only the first may be unmarked, and
        # the marked copies are bounded by the responses lost (below).
        copies = [a.startswith(RESENT) for a in answers]
        marked += sum(copies)
        if not answers or not all(copies[1:]):
            problems.append(f"{where}: answers {answers}")
            continue
        text = answers[-1].removeprefix(RESENT)
        if (message.chat_id, message.message_id) in failing:
            if not text.startswith(replies.SORRY):
                problems.append(f"{where}: a brain that kept failing, answered {text[:60]!r}")
        elif text != f"echo: {message.text}":
            problems.append(f"{where}: answered {text[:60]!r}")
    assert problems == []
    assert marked <= lost, "a copy only where Telegram's response was lost"
    assert invariants.answers_in_message_order(core, sent) == []
    unacked = [m for m in sent if not invariants.deliveries(core, [m])[m].acked]
    assert len(unacked) <= 1, "a 👀 is only skipped once its answer overtook a failed one"

    assert invariants.peak_brains(brain_log) <= CAP
    assert svc.ask("brain_pool")["peak_running"] <= CAP
    assert bot_api.core.wait_for(lambda c: svc.ask("brain_pool")["running"] == [], timeout=30)
    assert_no_leftovers(svc)
    assert beats.older_than(STALE_AFTER) == []
    assert svc.ask("watchdog")["stale_reported"] >= 1, "the wedged chat was replaced"
    chats = {c["id"]: c for c in svc.ask("chats")["children"]}
    assert all(chats[f"chat:{c}"]["restarts"] >= 1 for c in crashing if f"chat:{c}" in chats)

    calls = Counter({m: n for m, n in core.call_counts().items() if m != "getUpdates"})
    print(f"answered {time.monotonic() - started:.1f} s after the last message; "
          f"failing brains {len(failing)}, lost responses {lost} (marked copies {marked}), "
          f"no 👀 {len(unacked)}, chat restarts "
          f"{sum(c['restarts'] for c in chats.values())}, stale replaced "
          f"{svc.ask('watchdog')['stale_reported']}, poller beat max {max(poller_ages):.2f} s, "
          f"calls per message {sum(calls.values()) / len(sent):.2f}")
    assert sum(calls.values()) / len(sent) <= CALLS_PER_MESSAGE, dict(calls)
    assert core.throttled().total == 0, "pacing holds through the faults"
