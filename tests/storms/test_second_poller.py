"""A second consumer of the bot's token long-polls getUpdates in the middle of a storm.

The real tree over real HTTP, stand-in brains; the intruder is a plain python-telegram-bot
`Bot.get_updates` loop against the same local Bot API server. That server models the real
conflict: each getUpdates ends the one before it with 409, so while both poll, wakeful's
poller and the intruder end each other's polls, as they would on Telegram. At a seeded
moment the intruder starts, polls for a seeded six to eight seconds (longer than
wakeful's pause after a 409, so wakeful comes back while it is still there), and stops;
meanwhile chats write at seeded intervals, and a last message from every chat comes
after it left.

What the intruder does with offsets is the parameter, both cases being real:

- `peeks` never confirms an offset (someone's `curl getUpdates`, a debugging script): it
  is handed the waiting updates but Telegram keeps them, so wakeful must still receive,
  acknowledge and answer every message exactly once, in order.
- `confirms` acknowledges what it was handed, as a second bot instance would: Telegram
  then forgets those updates, and no bot can answer what it never received. What must
  hold is that wakeful loses nothing else: every message not in wakeful's journal was
  handed to the intruder, every message in it is answered exactly once in order, and
  none of the others gets a 👀 or an answer.

Either way the poller recovers by itself: it saw the conflict, it was never restarted or
seen as stale (its heartbeat stays within the watchdog's threshold while it waits out
each 409), and it polls on after the intruder has gone.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import replace

import pytest
from telegram import Bot
from telegram.error import Conflict

from tests.conftest import BotApi
from tests.storms import invariants
from wakeful.actors.poller import CONFLICT_PAUSE
from wakeful.config import WatchdogConfig
from wakeful.demo.users import UserMessage

CHATS = [990_000 + n for n in range(6)]
PER_CHAT = 5
STALE_AFTER = 3.0


class Intruder(threading.Thread):
    """Long-polls the bot's updates on its own thread until `stop()`."""

    def __init__(self, base_url: str, token: str, confirms: bool) -> None:
        super().__init__(name="second-poller", daemon=True)
        self._base_url = base_url
        self._token = token
        self._confirms = confirms
        self._leaving = threading.Event()
        self.polls = 0
        self.conflicts = 0
        self.handed: set[tuple[int, int]] = set()  # (chat_id, message_id)
        self.error: BaseException | None = None

    def leave(self) -> None:
        self._leaving.set()
        self.join(timeout=15)

    def run(self) -> None:
        """Executed on the intruder's own thread."""
        try:
            asyncio.run(self._poll())
        except BaseException as exc:  # reported by the test, not lost on this thread
            self.error = exc

    async def _poll(self) -> None:
        offset = None
        async with Bot(self._token, base_url=self._base_url) as bot:
            while not self._leaving.is_set():
                try:
                    updates = await bot.get_updates(offset=offset, timeout=1)
                except Conflict:
                    self.conflicts += 1
                    continue
                self.polls += 1
                for update in updates:
                    if update.message is not None:
                        self.handed.add((update.message.chat_id, update.message.message_id))
                if updates and self._confirms:
                    offset = updates[-1].update_id + 1
                elif updates:
                    await asyncio.sleep(0.1)  # the same updates come back at once


@pytest.mark.timeout(300)
@pytest.mark.parametrize("intruder_offsets", ["peeks", "confirms"])
def test_a_second_poller_mid_storm_costs_wakeful_nothing_it_was_given(
    bot_api: BotApi, run_service, storm_random: random.Random, intruder_offsets: str
) -> None:
    rng = storm_random
    core = bot_api.core
    config = bot_api.config(CHATS, brain_delay=0.1, cap=4)
    svc = run_service(replace(config, watchdog=WatchdogConfig(heartbeat_interval=0.3,
                                                              stale_after=STALE_AFTER)))
    beats = invariants.PollerBeats(svc).start()
    intruder = Intruder(bot_api.server.base_url, bot_api.token,
                        confirms=intruder_offsets == "confirms")

    sent: list[UserMessage] = []

    def say(chat: int, text: str) -> None:
        update = core.inject_text(chat, text, user_id=chat)
        sent.append(UserMessage(chat, update["message"]["message_id"], text, time.monotonic()))

    writers = [chat for chat in CHATS for _ in range(PER_CHAT)]
    rng.shuffle(writers)
    intrude_at = rng.randrange(3, len(writers) // 2)
    # Longer than the poller's pause after a 409 (CONFLICT_PAUSE): it comes back while
    # the intruder is still there, and they end each other's polls more than once.
    leave_after = rng.uniform(1.2, 1.6) * CONFLICT_PAUSE
    arrived = 0.0
    for n, chat in enumerate(writers):
        if n == intrude_at:
            intruder.start()
            arrived = time.monotonic()
        if intruder.is_alive() and time.monotonic() - arrived >= leave_after:
            intruder.leave()
        say(chat, f"{chat} #{n} {rng.choice(['hi', 'ünïcödé', '中文 😀', 'and?'])}")
        time.sleep(rng.uniform(0.05, 0.3))
    if intruder.is_alive():
        time.sleep(max(0.0, arrived + leave_after - time.monotonic()))
        intruder.leave()
    assert not intruder.is_alive() and intruder.error is None, intruder.error
    polls_when_it_left = svc.ask("poller")["polls"]
    for chat in CHATS:
        say(chat, f"{chat} after the intruder left")

    def settled(c: object) -> bool:
        """Telegram holds no update (so the journal holds all wakeful will ever get), and
        everything in the journal is answered."""
        return not core.pending_update_ids() and all(
            any(r.kind == "message" and r.reply_to_message_id == m.message_id
                for r in core.sent(m.chat_id))
            or not svc.journal.has_message(m.chat_id, m.message_id) for m in sent)

    try:
        assert core.wait_for(settled, timeout=120)
    finally:
        beats.stop()

    admitted = [m for m in sent if svc.journal.has_message(m.chat_id, m.message_id)]
    missed = [m for m in sent if m not in admitted]
    assert invariants.every_message_acked_and_answered_once(core, admitted) == []
    assert invariants.answers_in_message_order(core, admitted) == []
    if intruder_offsets == "peeks":
        assert missed == [], "an update nobody confirmed is never lost"
    assert [m for m in missed if (m.chat_id, m.message_id) not in intruder.handed] == [], \
        "wakeful lost only what the intruder took"
    assert invariants.deliveries(core, missed) == {
        m: invariants.Delivery(False, ()) for m in missed}, "no 👀, no answer: never received"
    assert all(m in admitted for m in sent[-len(CHATS):]), "it hears everyone after the intruder"

    poller = svc.ask("poller")
    assert poller["poll_failures"].get("conflict", 0) >= 1, "the intruder really collided"
    assert poller["polls"] > polls_when_it_left, "it polls on after the intruder left"
    assert {c["id"]: c for c in svc.ask("root")["children"]}["poller"]["restarts"] == 0
    assert svc.ask("watchdog")["stale_reported"] == 0
    assert beats.older_than(STALE_AFTER) == []
    print(f"{intruder_offsets}: intruder polls {intruder.polls}, 409s {intruder.conflicts}, "
          f"handed {len(intruder.handed)}; wakeful 409s {poller['poll_failures']}, "
          f"missed {len(missed)} of {len(sent)}, poller beat max {max(beats.ages):.2f} s")
