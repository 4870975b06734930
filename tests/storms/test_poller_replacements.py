"""The poller replaced twice in a row, at seeded moments in the middle of a storm.

The real tree over real HTTP (the local Bot API server), stand-in brains. While chats
write at seeded intervals, the poller dies twice running at seeded moments: each time
right after its poll has left, so its successor's own poll must take Telegram's single
getUpdates connection from a poll still on it, and then dies the same way. Replacing
pollers is where a cancelled poll once cost that connection for good: httpcore kept the
slot of a request cancelled just as it got a new connection (encode/httpcore#1093), and
every later poll failed with "Pool timeout" while the poller kept beating (the strangers
storm hit it after a chats-supervisor crash; tests/bots/test_poll_request.py drives that
exact moment). Afterwards: every message has its 👀 and one answer, in its chat's
order, and the last poller polls without an error.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.conftest import BotApi
from tests.storms import invariants
from wakeful.demo.users import UserMessage

CHATS = [993_000 + n for n in range(10)]
PER_CHAT = 6
# The root supervisor gives up after five restarts in a minute (wakeful/tree.py):
# two double replacements stay inside it.
REPLACEMENTS = 2


@pytest.mark.timeout(300)
def test_a_poller_replaced_twice_in_a_row_mid_storm_still_hears_everyone(
    bot_api: BotApi, service, storm_random: random.Random
) -> None:
    rng = storm_random
    core = bot_api.core
    svc, gateway = service(bot_api.config(CHATS, brain_delay=0.05, cap=4))
    writers = [chat for chat in CHATS for _ in range(PER_CHAT)]
    rng.shuffle(writers)
    replace_at = set(rng.sample(range(5, len(writers) - 5), REPLACEMENTS))
    sent: list[UserMessage] = []
    for n, chat in enumerate(writers):
        if n in replace_at:
            # Each of the next two polls is on its way when its poller raises; the
            # successor's own poll then cancels it.
            gateway.fail_next("get_updates")
            gateway.fail_next("get_updates")
        text = f"{chat} #{n} {rng.choice(['hi', 'ünïcödé', '中文 😀', 'and?'])}"
        update = core.inject_text(chat, text, user_id=chat)
        sent.append(UserMessage(chat, update["message"]["message_id"], text, time.monotonic()))
        time.sleep(rng.uniform(0.0, 0.1))

    def answered(c: object) -> bool:
        return all(any(r.kind == "message" and r.reply_to_message_id == m.message_id
                       for r in core.sent(m.chat_id)) for m in sent)

    assert core.wait_for(answered, timeout=90), (
        f"unanswered: {[m.text for m in sent if not invariants.deliveries(core, [m])[m].answers]}"
        f"; poller: {svc.ask('poller')}")
    assert invariants.every_message_acked_and_answered_once(core, sent) == []
    assert invariants.answers_in_message_order(core, sent) == []
    restarts = {c["id"]: c for c in svc.ask("root")["children"]}["poller"]["restarts"]
    assert restarts >= REPLACEMENTS + 1, "the successors really were replaced too"
    # The last poller's polls end normally: a long poll in flight, no failure streak.
    assert core.wait_for(lambda c: svc.ask("poller")["polls"] >= 2, timeout=10)
    poller = svc.ask("poller")
    assert poller["consecutive_failures"] == 0, poller["last_error"]
