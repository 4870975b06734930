"""Leftover brains of a previous run are killed at start, but never a stranger's process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.brain.turns import running, wait_until
from wakeful.brain.leftovers import kill_leftover_group, process_start_time

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def group() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A brain-like group: a leader in its own session and one tool in its group."""
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"],
                              start_new_session=True, stdout=subprocess.PIPE)
    assert leader.stdout is not None
    member = int(leader.stdout.readline())
    leader.stdout.close()
    yield leader, member
    for pid in (leader.pid, member):
        if running(pid):
            os.kill(pid, signal.SIGKILL)
    leader.wait()


def test_a_leftover_group_whose_leader_is_gone_still_loses_its_members(group) -> None:
    leader, member = group
    start = process_start_time(leader.pid)
    assert start is not None
    leader.kill()
    leader.wait()
    assert running(member), "the tool outlived its brain"
    assert kill_leftover_group(leader.pid, start) == 1
    wait_until(lambda: not running(member), "the leftover tool to die")


def test_a_leftover_group_with_its_leader_is_killed_whole(group) -> None:
    leader, member = group
    assert kill_leftover_group(leader.pid, process_start_time(leader.pid)) == 2
    assert leader.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: not running(member), "the tool to die")


def test_a_pid_that_now_belongs_to_another_process_is_left_alone(group) -> None:
    leader, member = group
    start = process_start_time(leader.pid)
    assert start is not None
    for recorded in (start - 1, None):
        assert kill_leftover_group(leader.pid, recorded) == 0
    assert leader.poll() is None and running(member)


def test_a_group_that_no_longer_exists_kills_nothing() -> None:
    done = subprocess.Popen(["true"])
    start = process_start_time(done.pid)
    done.wait()
    assert process_start_time(done.pid) is None
    assert kill_leftover_group(done.pid, start) == 0
