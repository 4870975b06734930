"""Turn lifecycle with the stand-in brain: failure modes the fake API cannot provoke in the CLI.

The stand-in speaks the CLI's stream-json and takes the same flags, so these run the
same code path as the real CLI, only with brains that misbehave on cue.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.brain.conftest import Bridge, assert_no_leftovers
from tests.brain.turns import group_alive, wait_until
from wakeful.actors import status
from wakeful.actors.replies import SESSION_RESET, SORRY

pytestmark = pytest.mark.timeout(60)


def test_brain_that_never_exits_after_answering_is_killed_and_the_next_message_starts_fresh(
    standin_bridge,
) -> None:
    chat = 650_001
    # Cold turns: a warm process is meant to stay after its answer (the warm variant below).
    bridge: Bridge = standin_bridge([chat], brain_delay=0.1, result_grace=1.0, keep_warm=0.0)
    bridge.say(chat, "hello")
    bridge.wait_replies(chat, 1)
    session = bridge.service.journal.session(chat)
    assert session is not None

    bridge.say(chat, "answer, then hang around [[linger]]")
    bridge.say(chat, "next")
    _, lingered, after = bridge.wait_replies(chat, 3)
    assert lingered.text == "echo: answer, then hang around [[linger]]", "the answer still counts"
    assert [n.text for n in bridge.notices(chat)] == [SESSION_RESET]
    assert after.text == "echo: next"
    assert [a["reason"] for a in bridge.attempts(chat)] == ["exited", "lingered", "exited"]
    killed_after = bridge.attempts(chat)[1]["seconds"]
    assert killed_after < 0.1 + 1.0 + 3.0, "ended by the result grace, not by the budget"
    # The lingering run resumed `session`, which may now be poisoned: it is not used again.
    fresh = bridge.service.journal.session(chat)
    assert fresh is not None and fresh != session
    assert_no_leftovers(bridge.service)


def test_a_warm_brain_that_does_not_exit_when_closed_is_killed_after_kill_grace(
    standin_bridge,
) -> None:
    chat = 650_005
    bridge: Bridge = standin_bridge([chat], brain_delay=0.1, keep_warm=0.3, kill_grace=0.5)
    bridge.say(chat, "answer, then hang around [[linger]]")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: answer, then hang around [[linger]]"
    pgid = bridge.attempts(chat)[0]["pgid"]
    # Closed after keep_warm (stdin EOF), it lingers: killed kill_grace later, group and all.
    wait_until(lambda: bridge.pool()["warm"] == [], "the warm process to be closed")
    wait_until(lambda: not group_alive(pgid), "the lingerer to be killed")
    assert_no_leftovers(bridge.service)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True



@pytest.mark.parametrize("keep_warm", [0.0, 0.3], ids=["cold", "warm"])
def test_processes_the_brain_started_die_with_it_even_one_that_left_its_process_group(
    standin_bridge, tmp_path: Path, keep_warm: float
) -> None:
    chat = 650_002
    children = tmp_path / "children"
    bridge: Bridge = standin_bridge([chat], keep_warm=keep_warm,
                                    env={"WAKEFUL_STANDIN_CHILDREN": str(children)})
    bridge.say(chat, "start helpers [[spawn-child]] [[spawn-stray]]")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text.startswith("echo: start helpers")
    pids = [int(line) for line in children.read_text().split()]
    assert len(pids) == 2
    if keep_warm:  # the helpers live as long as the warm process: they die when it closes
        wait_until(lambda: not any(map(_exists, pids)), "the helpers to die with the process")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone and reaped: not even a zombie is left
    assert_no_leftovers(bridge.service)


def test_brain_that_prints_only_garbage_ends_with_a_clear_message(standin_bridge) -> None:
    chat = 650_003
    garbage = ("sh", "-c", 'printf "garbage\\n{nope\\n"; exit 0')
    bridge: Bridge = standin_bridge([chat], command=garbage, max_attempts=1)
    bridge.say(chat, "hello?")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == SORRY + "the brain exited with status 0 without answering " \
                                 "(it printed 2 unreadable lines)"
    assert_no_leftovers(bridge.service)


def test_turn_that_keeps_busy_past_its_budget_is_stopped(standin_bridge) -> None:
    chat = 650_004
    bridge: Bridge = standin_bridge([chat], turn_budget=2.0)
    bridge.say(chat, "retry forever [[retry 1000]]")
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == SORRY + "no answer within the 2 s time limit, so I stopped it"
    assert [a["reason"] for a in bridge.attempts(chat)] == ["budget"]
    assert_no_leftovers(bridge.service)


def test_retry_progress_is_one_status_message_edited_no_faster_than_telegram_allows(
    standin_bridge,
) -> None:
    chat = 650_005
    bridge: Bridge = standin_bridge([chat], brain_delay=0.1)
    bridge.say(chat, "through the storm [[retry 45]]")  # ~4.5 s of api_retry events
    (reply,) = bridge.wait_replies(chat, 1)
    assert reply.text == "echo: through the storm [[retry 45]]"

    shown = bridge.final_status(chat)
    assert len(bridge.notices(chat)) == 1
    assert shown[0].startswith("⏳ Claude API overloaded, retry ")
    assert shown[0].endswith("/45")
    assert len(shown) >= 3, "the status followed the retries"
    assert shown[-1] == status.ANSWERED
    assert all(a != b for a, b in itertools.pairwise(shown))
    calls = [r.at_monotonic for r in bridge.core.sent(chat)
             if r.kind == "edit" or (r.kind == "message" and r.reply_to_message_id is None)]
    # Spaced by our clock; the margin covers the HTTP hop between us and the server.
    assert all(b - a > status.EDIT_EVERY - 0.2 for a, b in itertools.pairwise(calls)), calls
    assert_no_leftovers(bridge.service)
