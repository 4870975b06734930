"""Brains die with the service, and signals meant for the service do not end turns.

Real processes throughout: the stand-in brain, the fork server and the turn's child,
and, for the tests that kill the service, a separate process playing it
(tests/brain/play_service.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.brain.turns import Turn, running, wait_until
from wakeful.brain import procfs
from wakeful.brain.events import TurnResult
from wakeful.brain.leftovers import kill_leftover_group, process_start_time
from wakeful.brain.outcome import Failure, summarize
from wakeful.brain.timers import TimerLimits

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PlayedService:
    process: subprocess.Popen[bytes]
    pids: dict[str, int]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[PlayedService]:
    """A separate process playing the service, with one hanging turn that has a tool."""
    pids_json = tmp_path / "pids.json"
    process = subprocess.Popen([sys.executable, "-m", "tests.brain.play_service",
                                str(pids_json), str(tmp_path)], cwd=REPO)
    try:
        wait_until(pids_json.exists, "the service to start its turn")
        yield PlayedService(process, json.loads(pids_json.read_text()))
    finally:
        process.kill()
        process.wait()
        if pids_json.exists():  # whatever the test did, nothing of the turn may outlive it
            pids = json.loads(pids_json.read_text())
            kill_leftover_group(pids["brain"], pids["brain_start"])


def test_a_sigkilled_service_leaves_no_brain_and_no_tool_running(
    service: PlayedService,
) -> None:
    pids = service.pids
    assert running(pids["brain"]) and running(pids["tool"])
    assert pids["brain_start"] == process_start_time(pids["brain"])
    service.process.kill()
    for name in ("brain", "tool", "turn_child", "fork_server"):
        wait_until(lambda name=name: not running(pids[name]), f"the {name} to die")


def test_a_sigkilled_turn_child_takes_its_brain_and_the_brains_tools_with_it(
    tmp_path: Path,
) -> None:
    with Turn("never answer [[hang]] [[spawn-child]]", tmp_path) as turn:
        brain = turn.spawned().pid
        (tool,) = turn.tools(1)
        os.kill(turn.child_pid, signal.SIGKILL)
        assert turn.wait() is None, "killed: no report"
    assert turn.exitcode == -signal.SIGKILL
    wait_until(lambda: not running(brain), "the brain to die")
    wait_until(lambda: not running(tool), "the tool to die (killed by the service)")


def test_a_brain_dies_with_its_turn_child_and_its_leftover_tool_is_killed_at_next_start(
    service: PlayedService,
) -> None:
    pids = service.pids
    # Frozen, the service cannot clean up: only the kernel acts on the brain.
    os.kill(service.process.pid, signal.SIGSTOP)
    os.kill(pids["turn_child"], signal.SIGKILL)
    wait_until(lambda: not running(pids["brain"]), "the brain to die (parent-death signal)")
    assert running(pids["tool"]), "nothing was left to kill the brain's tool"
    service.process.kill()
    # What the next start does with the pid and start time its journal recorded:
    assert kill_leftover_group(pids["brain"], pids["brain_start"]) == 1
    wait_until(lambda: not running(pids["tool"]), "the leftover tool to die")


def test_sigint_and_sigterm_to_the_turn_child_and_the_fork_server_do_not_end_the_turn(
    tmp_path: Path,
) -> None:
    with Turn("keep going", tmp_path, delay=1.0) as turn:
        turn.spawned()  # the child has set up its signal handling by now
        server = procfs.stat(turn.child_pid)
        assert server is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(turn.child_pid, sig)
            os.kill(server.ppid, sig)
        report = turn.wait()
    assert report is not None and report.reason == "exited", report
    assert turn.exitcode == 0
    results = [e for e in turn.events if isinstance(e, TurnResult)]
    assert [r.text for r in results] == ["echo: keep going"]
    assert running(server.ppid), "the fork server is still there for the next turn"


def test_a_brain_stopped_with_sigterm_by_someone_else_reads_as_interrupted(
    tmp_path: Path,
) -> None:
    with Turn("never answer [[hang]]", tmp_path) as turn:
        os.kill(turn.spawned().pid, signal.SIGTERM)
        report = turn.wait()
    assert report is not None and (report.reason, report.exit_code) == ("exited", -15)
    outcome = summarize(turn.events, report, turn.exitcode, TimerLimits())
    assert outcome.failure is Failure.INTERRUPTED
    assert outcome.error == "the brain was stopped from outside (signal SIGTERM) " \
                            "before answering"
