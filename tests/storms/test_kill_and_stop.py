"""The service killed (SIGKILL) or stopped (SIGTERM) in the middle of a storm, then restarted.

`wakeful run` is a real subprocess against the local Bot API server, with stand-in
brains. Every admitted message must end up answered: after a kill -9 a message may be
answered twice only if its answer was on its way at the kill; after a clean stop,
exactly once, with no failure notes caused by the stop and no status message left
saying "working". Across both lives of the service, never more brains at once than
the cap (by the brains' own log). The seed picks the moment of the kill or stop and the
order in which the chats write.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.conftest import BotApi
from tests.storms import invariants
from tests.storms.process import ServiceProcess, alive, wait_until
from wakeful.actors import status
from wakeful.demo.users import SimulatedUsers

CHATS = [910_000 + i for i in range(20)]
PER_CHAT = 3
KILL_TRIALS = 3
SOAK_TRIALS = 12


def _storm(bot_api: BotApi, rng: random.Random) -> SimulatedUsers:
    """Round after round, the chats write in one seeded order."""
    return SimulatedUsers(bot_api.core, rng.sample(CHATS, len(CHATS)), PER_CHAT,
                          gap=0.3).start()


def _answered_all(bot_api: BotApi, users: SimulatedUsers, timeout: float) -> bool:
    def done(core) -> bool:  # type: ignore[no-untyped-def]
        return all(any(r.kind == "message" and r.reply_to_message_id == m.message_id
                       for r in core.sent(m.chat_id)) for m in users.sent())
    return bot_api.core.wait_for(done, timeout)


def _no_brain_left(service: ServiceProcess) -> list[int]:
    assert wait_until(lambda: not any(alive(p) for p in service.brain_pids()), timeout=10)
    return [p for p in service.brain_pids() if alive(p)]


def _kill_mid_storm(bot_api: BotApi, service: ServiceProcess, rng: random.Random) -> None:
    service.start()
    users = _storm(bot_api, rng)
    # Anywhere from the first messages to the last turns: each moment finds other work
    # half done (stored but not acked, running, answered but not yet delivered).
    moment = rng.uniform(0.3, 4.0)
    wait_until(lambda: False, timeout=moment)
    service.kill()
    assert _no_brain_left(service) == [], "a brain outlived the service"
    may_repeat = invariants.in_flight_at_kill(service.journal)
    users.join(timeout=30)

    service.start()
    assert _answered_all(bot_api, users, timeout=90), \
        invariants.every_message_acked_and_answered_once(bot_api.core, users.sent())
    service.current.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0, service.output()
    sent = users.sent()
    assert len(sent) == len(CHATS) * PER_CHAT
    problems = (invariants.every_message_acked_and_answered_once(bot_api.core, sent, may_repeat)
                + invariants.answers_in_message_order(bot_api.core, sent)
                + invariants.no_failure_notes(bot_api.core, CHATS))
    assert not problems, f"killed after {moment:.2f}s: " + "\n".join(problems)
    assert invariants.peak_brains(service.brain_log) <= service.cap


@pytest.mark.timeout(300)
@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_sigkill_mid_storm_loses_nothing_after_the_restart(
    bot_api: BotApi, service_process, storm_random: random.Random, trial: int
) -> None:
    _kill_mid_storm(bot_api, service_process(CHATS, brain_delay=0.3, cap=4), storm_random)


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_sigkill_mid_storm_many_times(bot_api: BotApi, service_process, tmp_path: Path,
                                      storm_random: random.Random) -> None:
    for trial in range(SOAK_TRIALS):
        home = tmp_path / f"trial-{trial}"
        home.mkdir()
        _kill_mid_storm(bot_api, service_process(CHATS, brain_delay=0.3, cap=4, home=home),
                        storm_random)


def _stop_mid_storm(bot_api: BotApi, service: ServiceProcess, rng: random.Random,
                    whole_group: bool) -> None:
    service.start()
    users = _storm(bot_api, rng)
    # Mid-storm means once it serves: a stop before it even runs Python is a plain kill,
    # and on a loaded machine the interpreter's start alone can take seconds.
    assert bot_api.core.wait_for(lambda core: any(
        r.kind == "reaction" for chat in CHATS for r in core.sent(chat)), 60)
    moment = rng.uniform(0.5, 3.0)
    wait_until(lambda: False, timeout=moment)
    if whole_group:
        service.terminate_group()
    else:
        service.current.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0, service.output()
    assert "Traceback" not in service.output(), service.output()
    assert _no_brain_left(service) == []
    users.join(timeout=30)

    service.start()
    assert _answered_all(bot_api, users, timeout=90)
    service.current.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0, service.output()
    sent = users.sent()
    problems = (invariants.every_message_acked_and_answered_once(bot_api.core, sent)
                + invariants.answers_in_message_order(bot_api.core, sent)
                + invariants.no_failure_notes(bot_api.core, CHATS)
                + invariants.no_stale_status(bot_api.core, CHATS, status.WORKING))
    assert not problems, f"stopped after {moment:.2f}s: " + "\n".join(problems)
    assert invariants.peak_brains(service.brain_log) <= service.cap


@pytest.mark.timeout(300)
@pytest.mark.parametrize("whole_group", [False, True], ids=["service-alone", "whole-cgroup"])
def test_sigterm_mid_storm_stops_cleanly_and_the_restart_answers_everything_once(
    bot_api: BotApi, service_process, storm_random: random.Random, whole_group: bool
) -> None:
    # A long brain and a short grace: some turns finish within it, some are stopped.
    service = service_process(CHATS, brain_delay=1.0, cap=4, grace=1.5)
    _stop_mid_storm(bot_api, service, storm_random, whole_group)
