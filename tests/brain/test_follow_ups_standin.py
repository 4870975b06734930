"""Follow-ups, interrupts and cancels through one turn's child, with the stand-in brain.

Each test runs a real turn child (fork server, process group, timers) around the
stand-in, which speaks the CLI's stream-json input; the stand-in records every
message it takes (WAKEFUL_STANDIN_PROMPTS), so a test sees what reached the brain,
in which turn of which process.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.brain.sessions import LIMITS, Session
from tests.brain.turns import wait_until
from wakeful.brain import session_protocol, standin
from wakeful.brain.child import FollowUp, FollowUpDropped, Spawned
from wakeful.brain.command import FIXED_FLAGS
from wakeful.brain.events import MessageTaken, SessionStarted, TextDelta, TurnResult
from wakeful.brain.outcome import Failure

pytestmark = pytest.mark.timeout(60)


def test_a_follow_up_while_the_brain_works_is_taken_into_the_same_turn(tmp_path: Path) -> None:
    with Session("first", tmp_path, delay=1.5) as s:
        s.wait_for(MessageTaken)  # the prompt, taken: the brain is at work
        s.process.send(FollowUp("f-1", "second"))
        report = s.report()
        [result] = s.of(TurnResult)
        assert result.text == "echo: first + second"
        assert "f-1" in (result.message_uuids or ())
        assert MessageTaken("f-1") in s.items
        assert report.reason == "exited" and report.exit_code == 0 and report.saw_result
        outcome = s.outcome()
        assert outcome.ok and outcome.text == "echo: first + second"
        first, second = s.received()
        assert (first["prompt"], first["turn"], first["during"]) == ("first", 1, False)
        assert (second["prompt"], second["turn"], second["during"]) == ("second", 1, True)
        assert second["uuid"] == "f-1" and first["pid"] == second["pid"]
        s.assert_group_gone()


def test_a_follow_up_while_the_answer_streams_runs_as_the_next_turn_of_the_same_process(
    tmp_path: Path,
) -> None:
    with Session("first [[stream]]", tmp_path, delay=2.0) as s:
        s.wait_for(TextDelta)  # the final answer is being written
        s.process.send(FollowUp("f-1", "second"))
        report = s.report()
        first, second = s.of(TurnResult)
        assert first.text == "echo: first [[stream]]" and second.text == "echo: second"
        # Taken after the first result began: the child waited for the second result.
        assert s.items.index(MessageTaken("f-1")) > s.items.index(first)
        assert report.reason == "exited" and report.exit_code == 0
        outcome = s.outcome()
        assert outcome.ok and outcome.text == "echo: first [[stream]]\n\necho: second"
        records = s.received()
        assert [(r["prompt"], r["turn"]) for r in records] == [
            ("first [[stream]]", 1), ("second", 2)]
        assert len({r["pid"] for r in records}) == 1  # one process, one session
        sessions = {e.session_id for e in s.of(SessionStarted)}
        assert len(sessions) == 1


def test_an_interrupting_follow_up_ends_the_running_turn_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    with Session("first [[hang]]", tmp_path) as s:
        s.wait_for(MessageTaken)
        started = time.monotonic()
        s.process.send(FollowUp("f-1", "second", interrupt=True))
        report = s.report()
        assert time.monotonic() - started < 5  # not the hour [[hang]] asks for
        interrupted, answered = s.of(TurnResult)
        assert interrupted.is_error and not answered.is_error
        assert answered.text == "echo: second"
        assert report.reason == "exited" and report.exit_code == 0
        # The interrupted turn's error does not make the turn a failure.
        outcome = s.outcome()
        assert outcome.ok and outcome.text == "echo: second"
        records = s.received()
        assert [(r["prompt"], r["turn"]) for r in records] == [("first [[hang]]", 1),
                                                                ("second", 2)]
        assert len({r["pid"] for r in records}) == 1
        s.assert_group_gone()


def test_cancel_interrupts_closes_stdin_and_the_session_is_resumed_next_time(
    tmp_path: Path,
) -> None:
    with Session("first [[hang]]", tmp_path) as s:
        s.wait_for(MessageTaken)
        started = time.monotonic()
        s.process.cancel()
        report = s.report()
        assert time.monotonic() - started < 5.0  # only a guard against a hang
        # Exit code 0: it ended by itself on the interrupt, not killed after kill_grace.
        assert report.reason == "cancelled" and report.exit_code == 0
        outcome = s.outcome()
        assert outcome.failure is Failure.CANCELLED
        assert outcome.session_unsafe is False and outcome.session_id is not None
        s.assert_group_gone()
    with Session("next", tmp_path, resume=outcome.session_id) as again:
        assert again.outcome().ok
        assert again.received()[-1]["resume"] == outcome.session_id


def test_cancel_of_a_warm_process_interrupts_and_keeps_the_process_and_session(
    tmp_path: Path,
) -> None:
    """keep_warm > 0: the interrupt ends the turn, stdin stays open, the process waits
    warm; its next turn goes on in the same process and session."""
    with Session("first [[hang]]", tmp_path, keep_warm=30.0) as s:
        s.wait_for(MessageTaken)
        s.process.cancel()
        report = s.report()
        assert report.reason == "cancelled" and report.warm and report.exit_code == 0
        outcome = s.outcome()
        assert outcome.failure is Failure.CANCELLED and outcome.session_unsafe is False
        [spawned] = s.of(Spawned)
        os.killpg(spawned.pid, 0)  # still there, waiting for the chat's next turn

        items: list[object] = []
        ended = threading.Event()
        spec = replace(s.spec, turn_id="s-2", prompt="next")
        assert s.process.next_turn(spec, items.append, lambda _code: ended.set())
        wait_until(ended.is_set, "the second turn to end")
        [result] = [i for i in items if isinstance(i, TurnResult)]
        assert result.text == "echo: next" and not result.is_error
        first, second = s.received()
        assert first["pid"] == second["pid"] == spawned.pid
        assert (second["prompt"], second["turn"]) == ("next", 2)
        s.process.close()
        s.process.join(10)
        s.assert_group_gone()


def test_cancel_also_stops_a_follow_up_still_waiting_in_the_brains_queue(
    tmp_path: Path,
) -> None:
    with Session("first [[stream]]", tmp_path, delay=3.0) as s:
        s.wait_for(TextDelta)
        s.process.send(FollowUp("f-1", "second"))  # waits: the answer is being written
        s.process.cancel()
        report = s.report()
        # Both turns ended by an interrupt; the brain exited by itself, nothing answered.
        assert [r.is_error for r in s.of(TurnResult)] == [True, True]
        assert report.reason == "cancelled" and report.exit_code == 0
        assert s.outcome().failure is Failure.CANCELLED
        assert [(r["prompt"], r["turn"]) for r in s.received()] == [
            ("first [[stream]]", 1), ("second", 2)]


@pytest.mark.parametrize("keep_warm", [0.0, 30.0], ids=["cold", "warm"])
def test_cancel_kills_a_brain_that_ignores_the_interrupt_after_kill_grace(
    tmp_path: Path, keep_warm: float,
) -> None:
    init = json.dumps({"type": "system", "subtype": "init", "session_id": "s-deaf"})
    script = f"read -r prompt; printf '%s\\n' {shlex.quote(init)}; exec sleep 60"
    with Session("x", tmp_path, argv=("/bin/sh", "-c", script, *FIXED_FLAGS),
                 keep_warm=keep_warm) as s:
        s.wait_for(SessionStarted)
        started = time.monotonic()
        s.process.cancel()
        report = s.report()
        assert 0.9 < time.monotonic() - started < 5.0  # kill_grace (1 s), then the kill
        assert report.reason == "cancelled" and report.exit_code != 0
        assert s.outcome().failure is Failure.CANCELLED
        s.assert_group_gone()


def test_a_follow_up_after_the_turn_is_answered_is_dropped_not_lost(tmp_path: Path) -> None:
    with Session("first [[linger]]", tmp_path, delay=0.1,
                 limits=replace(LIMITS, result_grace=1.0)) as s:
        s.wait_for(TurnResult)  # answered: stdin is closed, the brain lingers
        s.process.send(FollowUp("f-late", "too late"))
        assert s.wait_for(FollowUpDropped) == [FollowUpDropped("f-late")]
        report = s.report()
        assert report.reason == "lingered"
        assert [r["prompt"] for r in s.received()] == ["first [[linger]]"]


def test_a_100_kb_prompt_with_odd_characters_reaches_the_brain_intact(tmp_path: Path) -> None:
    odd = 'quotes " \' \\ newlines \n\r\n unicode 日本語 🙂 \u2028 \x00 lone \ud800 end'
    prompt = odd + "y" * 100_000 + odd
    follow_up = "and " + odd * 1000
    with Session(prompt, tmp_path, delay=1.5) as s:
        s.wait_for(MessageTaken)
        s.process.send(FollowUp("f-1", follow_up))
        report = s.report()
        assert report.reason == "exited" and report.exit_code == 0
        assert report.garbage_lines == 0
        first, second = s.received()
        # Lone surrogates travel as JSON escapes and come back the same.
        assert first["prompt"] == prompt and second["prompt"] == follow_up
        [result] = s.of(TurnResult)
        assert result.text == f"echo: {prompt.strip()} + {follow_up.strip()}"


def test_a_brain_that_never_reads_its_stdin_cannot_block_the_turn(tmp_path: Path) -> None:
    lines = [json.dumps({"type": "system", "subtype": "init", "session_id": "s-1"}),
             json.dumps({"type": "result", "subtype": "success", "is_error": False,
                         "result": "ok", "session_id": "s-1"})]
    script = f"printf '%s\\n' {' '.join(shlex.quote(x) for x in lines)}; exec sleep 0.5"
    with Session("z" * 1_000_000, tmp_path,
                 argv=("/bin/sh", "-c", script, *FIXED_FLAGS)) as s:
        report = s.report()
        assert report.reason == "exited" and report.exit_code == 0
        assert s.outcome().text == "ok"


def test_the_stand_in_dies_on_a_line_that_is_not_json_like_the_cli() -> None:
    """Why every stdin line is made by session_protocol: one bad line ends the session."""
    good = session_protocol.user_message("hello", "u-1")
    done = subprocess.run([*standin.turn_argv(0.0)], input=good + b"not json\n",
                          capture_output=True, timeout=30)
    assert done.returncode == 1
    assert b"not JSON" in done.stderr
