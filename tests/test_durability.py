"""Nothing accepted is lost: the journal under faults, in the real service over real HTTP.

The batch and its offset are committed together; an answer is stored before it is
sent and sent until Telegram takes it; a brain left by the last run dies before
replay; finished rows do not pile up.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import BotApi
from tests.storms.process import alive, wait_until
from tests.supervision.faults import FaultyJournal
from tests.supervision.harness import advance, settle_until
from wakeful.brain.leftovers import process_start_time
from wakeful.clock import FakeClock
from wakeful.messages import IncomingMessage
from wakeful.state.journal import Journal, JournalConfig
from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_offset_is_never_confirmed_before_its_batch_is_committed(
    bot_api: BotApi, service, when: str
) -> None:
    chat = 860_001
    config = bot_api.config([chat], brain_delay=0.05)
    journal = FaultyJournal(config.journal.path, "normal")
    svc, _gateway = service(config, journal=journal)
    bot_api.core.inject_text(chat, "hello")
    bot_api.wait_replies(chat, 1)

    # The poller dies on its next batch, either before the commit (nothing stored, so
    # Telegram must send it again) or right after it (stored, but never routed).
    journal.fail_next("accept_batch", when)
    bot_api.core.inject_text(chat, "through the crash")
    replies = bot_api.wait_replies(chat, 2)
    assert [r.text for r in replies] == ["echo: hello", "echo: through the crash"]
    assert settle_until(svc.directory, lambda: svc.journal.owed(chat) == [])
    poller = {c["id"]: c for c in svc.ask("root")["children"]}["poller"]
    assert poller["restarts"] == 1, "the poller died and was restarted"
    assert len(bot_api.replies(chat)) == 2, "answered exactly once"
    assert bot_api.core.wait_for(lambda c: c.pending_update_ids() == [], timeout=10)


def test_a_stored_answer_waits_out_a_minute_of_502s_and_is_delivered_once(tmp_path: Path) -> None:
    chat = 860_002
    clock = FakeClock()
    token = random_token()
    core = BotApiCore(token, monotonic=clock.monotonic)
    with LocalBotApiServer(core) as server:
        api = BotApi(core, server, token, tmp_path)
        from wakeful.service import Service

        svc = Service(api.config([chat], brain_delay=0.05), clock=clock)
        svc.start()
        try:
            core.outage("sendMessage", 502, seconds=60, description="Bad Gateway")
            core.inject_text(chat, "answer me through the outage")
            # The turn runs on real time; its answer is stored, then sending starts.
            assert settle_until(svc.directory, lambda: core.outage_counts().get(
                "sendMessage", 0) >= 1)
            update_id = svc.journal.owed(chat)[0]
            assert svc.journal.stored_answer(update_id) is not None, "stored before sending"
            advance(clock, svc.directory, 75.0, 0.5)
            assert api.wait_replies(chat, 1, timeout=10)[0].text == \
                "echo: answer me through the outage"
            advance(clock, svc.directory, 10.0, 0.5)
            assert len(api.replies(chat)) == 1, "exactly once"
            assert core.outage_counts()["sendMessage"] >= 5, "it kept trying all minute"
            assert settle_until(svc.directory, lambda: svc.journal.owed(chat) == [])
        finally:
            svc.stop(grace=0)


@pytest.fixture
def stray_brain() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, as a brain left running by a killed service would be."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _last_run_died_mid_turn(journal: str, update: dict, brain_pid: int,
                            brain_start: int | None) -> None:
    """What a run that accepted `update`, started its brain and died leaves behind."""
    last_run = Journal(journal)
    message = update["message"]
    chat = message["chat"]["id"]
    last_run.accept_batch([IncomingMessage(update["update_id"], chat, message["message_id"],
                                           chat, message["text"], 0.0)],
                          next_offset=update["update_id"] + 1)
    assert last_run.begin_turn(update["update_id"], generation=1).granted
    last_run.brain_started(update["update_id"], 1, brain_pid, brain_start)
    last_run.close()


def test_a_brain_the_last_run_left_behind_is_killed_before_its_message_runs_again(
    bot_api: BotApi, run_service, stray_brain: subprocess.Popen[bytes]
) -> None:
    chat = 860_003
    config = bot_api.config([chat], brain_delay=0.05)
    update = bot_api.core.inject_text(chat, "run me again")
    _last_run_died_mid_turn(config.journal.path, update, stray_brain.pid,
                            process_start_time(stray_brain.pid))

    svc = run_service(config)
    assert wait_until(lambda: stray_brain.poll() is not None, timeout=10), "the stray lives on"
    (reply,) = bot_api.wait_replies(chat, 1)
    assert reply.text == "echo: run me again"
    assert svc.ask("brain_pool")["leftovers_killed"] == 1


def test_a_pid_reused_by_someone_else_is_not_killed(
    bot_api: BotApi, run_service, stray_brain: subprocess.Popen[bytes]
) -> None:
    chat = 860_004
    config = bot_api.config([chat], brain_delay=0.05)
    update = bot_api.core.inject_text(chat, "mine")
    start = process_start_time(stray_brain.pid)
    assert start is not None
    _last_run_died_mid_turn(config.journal.path, update, stray_brain.pid, start - 1)

    run_service(config)
    bot_api.wait_replies(chat, 1)
    assert alive(stray_brain.pid), "same pid, other start time: not ours"


def test_retention_deletes_finished_messages_and_keeps_the_journal_small(
    bot_api: BotApi, service
) -> None:
    chat = 860_005
    clock = FakeClock()
    config = bot_api.config([chat], brain_delay=0.0)
    # Two minutes, so that fake time can pass it in steps the watchdog finds healthy.
    config = replace(config, journal=JournalConfig(path=config.journal.path,
                                                   retain_days=120 / 86_400, synchronous="normal"))
    svc, _gateway = service(config, clock=clock)
    for n in range(5):
        bot_api.core.inject_text(chat, f"message {n}")
    # One message a second per chat (Telegram's limit) is kept on fake time too; the
    # brains run on real time.
    assert wait_until(lambda: advance(clock, svc.directory, 0.25, 0.25) and
                      len(bot_api.replies(chat)) == 5, timeout=30)
    assert settle_until(svc.directory, lambda: svc.journal.owed(chat) == [])
    assert sum(svc.journal.summary()["messages"].values()) == 5

    advance(clock, svc.directory, 30.0, 1.0)
    assert svc.ask("retention")["runs"] == 1 and svc.ask("retention")["pruned"] == 0, \
        "a first pass soon after start: nothing is old enough yet"
    advance(clock, svc.directory, 700.0, 1.0)
    assert settle_until(svc.directory, lambda: svc.journal.summary()["messages"] == {})
    assert svc.ask("retention")["pruned"] == 5
    assert svc.journal.session(chat) is not None, "a chat's session outlives its messages"


def test_a_full_disk_stops_the_service_loudly_and_telegram_keeps_the_message(
    bot_api: BotApi, run_service
) -> None:
    chat = 860_006
    svc = run_service(bot_api.config([chat], brain_delay=0.0))
    with svc.journal._read() as db:  # SQLite's own "disk full": no page beyond these
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
    update = bot_api.core.inject_text(chat, "x" * 100_000)  # more than a page can take
    assert svc.gave_up.wait(10), "a journal that cannot write must stop the service"
    assert svc.give_up_reason is not None
    assert svc.give_up_reason.startswith("journal: ") and "full" in svc.give_up_reason
    assert update["update_id"] in bot_api.core.pending_update_ids(), \
        "the offset did not move: Telegram still has the message for the next run"
    assert bot_api.replies(chat) == []
