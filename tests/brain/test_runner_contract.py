"""The turn-runner protocol, one suite for every runner: what the brain pool relies on.

Each test runs against LocalRunner (fork-server children here) and RayRunner (the same
children on the nodes of a loopback Ray cluster), with the stand-in brain.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brain.turns import running, wait_until
from wakeful.brain import standin
from wakeful.brain.child import ApprovalDecision, ChildReport, FollowUp, Spawned, TurnSpec
from wakeful.brain.config import BrainConfig
from wakeful.brain.events import ApprovalNeeded, MessageTaken, SessionStarted, TurnResult
from wakeful.brain.local_runner import LocalRunner
from wakeful.brain.runner import RunnerUnavailable, TurnHandle, TurnRunner
from wakeful.brain.timers import TimerLimits

SLOTS = 2  # LocalRunner's; the Ray cluster has 2 workers x 2 slots
GUARD = 60.0
_ids = itertools.count(1)


class Collected:
    """What one turn sent back; callbacks arrive on the runner's threads."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.exitcode: int | None = None
        self.exited = threading.Event()
        self.exits = 0

    def item(self, item: Any) -> None:
        assert not self.exited.is_set(), f"{item!r} arrived after the exit"
        self.items.append(item)

    def exit(self, code: int | None) -> None:
        self.exitcode = code
        self.exits += 1
        self.exited.set()

    def wait(self) -> ChildReport:
        assert self.exited.wait(GUARD), "the turn never reported its exit"
        reports = [i for i in self.items if isinstance(i, ChildReport)]
        assert len(reports) == 1, self.items
        return reports[0]

    def spawned(self) -> Spawned:
        found: Spawned = wait_until(
            lambda: next((i for i in self.items if isinstance(i, Spawned)), None), "Spawned",
            timeout=GUARD)
        return found


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def runner(request: pytest.FixtureRequest) -> Iterator[TurnRunner]:
    made: TurnRunner
    if request.param == "local":
        made = LocalRunner(SLOTS)
    else:
        cluster = request.getfixturevalue("ray_cluster")
        from wakeful.brain.ray_runner import RayRunner

        made = RayRunner(BrainConfig(runner="ray", ray_address=cluster.address),
                         on_change=lambda: None, refresh=0.2)
        wait_until(lambda: len(made.status().nodes) == 2, "both Ray nodes to join",
                   timeout=GUARD)
    made.warm_up()
    yield made
    made.close()


def spec(prompt: str, tmp_path: Path, delay: float = 0.2,
         limits: TimerLimits | None = None) -> TurnSpec:
    return TurnSpec(
        turn_id=f"c{next(_ids)}", argv=standin.turn_argv(delay), prompt=prompt,
        env={"WAKEFUL_STANDIN_CHILDREN": str(tmp_path / "tools")},
        cwd=str(tmp_path / "work"), limits=limits or TimerLimits(), kill_grace=1.0)


def start(runner: TurnRunner, turn: TurnSpec, chat: int = 1) -> tuple[TurnHandle, Collected]:
    got = Collected()
    return runner.start(turn, chat, got.item, got.exit), got


def test_items_arrive_in_order_spawned_events_report_then_the_exit(
    runner: TurnRunner, tmp_path: Path
) -> None:
    _, got = start(runner, spec("hello", tmp_path))
    report = got.wait()
    assert isinstance(got.items[0], Spawned)
    assert isinstance(got.items[1], SessionStarted)
    assert isinstance(got.items[-2], TurnResult) and got.items[-2].text == "echo: hello"
    assert got.items[-1] is report
    assert (report.reason, report.exit_code, got.exitcode, got.exits) == ("exited", 0, 0, 1)
    assert (tmp_path / "work").is_dir(), "the turn ran in its workdir"


def test_a_follow_up_reaches_the_running_brain_and_is_taken_into_its_turn(
    runner: TurnRunner, tmp_path: Path
) -> None:
    handle, got = start(runner, spec("first", tmp_path, delay=1.5))
    wait_until(lambda: any(isinstance(i, MessageTaken) for i in got.items), "the prompt taken",
               timeout=GUARD)
    assert handle.send(FollowUp("f-1", "second"))
    report = got.wait()
    assert MessageTaken("f-1") in got.items
    [result] = [i for i in got.items if isinstance(i, TurnResult)]
    assert result.text == "echo: first + second"
    assert (report.reason, report.exit_code) == ("exited", 0)


@pytest.mark.parametrize(("allow", "answer"), [(True, "tool allowed"),
                                               (False, "tool denied: not here")])
def test_a_tool_question_holds_the_turn_past_its_idle_timer_until_the_answer_reaches_the_brain(
    runner: TurnRunner, tmp_path: Path, allow: bool, answer: str
) -> None:
    # The wait for a person is not silence: the idle timer (0.5 s) is paused meanwhile.
    patient = TimerLimits(first_event=30.0, idle=0.5, budget=30.0, result_grace=1.0)
    handle, got = start(runner, spec("[[ask Bash]] make", tmp_path, delay=0.1, limits=patient))
    asked: ApprovalNeeded = wait_until(
        lambda: next((i for i in got.items if isinstance(i, ApprovalNeeded)), None),
        "the tool question", timeout=GUARD)
    assert asked.tool_name == "Bash"
    assert not got.exited.wait(1.5), f"the turn ended while it waited: {got.items}"
    assert handle.send(ApprovalDecision(asked.request_id, allow, "not here"))
    report = got.wait()
    [result] = [i for i in got.items if isinstance(i, TurnResult)]
    assert result.text == answer
    assert (report.reason, report.exit_code) == ("exited", 0)


def test_cancel_kills_the_brains_whole_process_group(runner: TurnRunner, tmp_path: Path) -> None:
    handle, got = start(runner, spec("[[spawn-child]] [[hang]]", tmp_path))
    brain = got.spawned().pid
    tool = wait_until(lambda: (tmp_path / "tools").exists() and
                      (tmp_path / "tools").read_text().split(), "the brain's tool",
                      timeout=GUARD)
    handle.cancel()
    report = got.wait()
    assert report.reason == "cancelled"
    assert not running(brain)
    assert not running(int(tool[0])), "a tool of the cancelled brain survived"


def test_the_first_event_timer_ends_a_silent_brain(runner: TurnRunner, tmp_path: Path) -> None:
    silent = TimerLimits(first_event=1.0, idle=30.0, budget=30.0, result_grace=1.0)
    _, got = start(runner, spec("[[hang]]", tmp_path, limits=silent))
    report = got.wait()
    assert report.reason == "no_first_event"
    assert not running(got.spawned().pid)


def brain_and_tool(got: Collected, tmp_path: Path) -> tuple[int, int]:
    """The brain's pid (its group's id) and its tool's ([[spawn-child]])."""
    tool = wait_until(lambda: (tmp_path / "tools").exists() and
                      (tmp_path / "tools").read_text().split(), "the brain's tool",
                      timeout=GUARD)
    return got.spawned().pid, int(tool[0])


def test_the_idle_timer_ends_a_brain_gone_silent_mid_answer_with_its_whole_group(
    runner: TurnRunner, tmp_path: Path
) -> None:
    # One api_retry shows the model at work; then nothing more on stdout.
    quiet = TimerLimits(first_event=30.0, idle=1.0, budget=30.0, result_grace=1.0)
    _, got = start(runner, spec("[[spawn-child]] [[retry 1]] [[hang]]", tmp_path,
                                limits=quiet))
    brain, tool = brain_and_tool(got, tmp_path)
    report = got.wait()
    assert report.reason == "idle" and report.progressed
    assert not running(brain)
    assert not running(tool), "a tool of the silent brain survived"


def test_the_budget_timer_ends_a_brain_that_keeps_busy_past_it_with_its_whole_group(
    runner: TurnRunner, tmp_path: Path
) -> None:
    # An api_retry every 0.1 s: never silent, never done.
    busy = TimerLimits(first_event=30.0, idle=30.0, budget=1.5, result_grace=1.0)
    _, got = start(runner, spec("[[spawn-child]] [[retry 1000]]", tmp_path, limits=busy))
    brain, tool = brain_and_tool(got, tmp_path)
    report = got.wait()
    assert report.reason == "budget"
    assert not running(brain)
    assert not running(tool), "a tool of the brain over budget survived"


def test_no_more_turns_start_than_the_runner_has_slots_and_a_kill_frees_one(
    runner: TurnRunner, tmp_path: Path
) -> None:
    total = runner.capacity()
    assert total >= 1
    turns: list[tuple[TurnHandle, Collected]] = []
    for chat in range(1, 200):
        if runner.capacity() == 0:
            break
        if runner.accepts(chat):
            turns.append(start(runner, spec("[[hang]]", tmp_path), chat))
    assert len(turns) == total
    assert not any(runner.accepts(chat) for chat in range(1, 50))
    with pytest.raises(RunnerUnavailable):
        start(runner, spec("[[hang]]", tmp_path), chat=1)
    handle, got = turns.pop()
    brain = got.spawned().pid
    handle.kill()
    assert got.exited.wait(GUARD)
    wait_until(lambda: not running(brain), "the killed brain to die", timeout=GUARD)
    wait_until(lambda: runner.capacity() == 1, "the killed turn's slot to come back",
               timeout=GUARD)
    for handle, got in turns:
        handle.cancel()
        assert got.exited.wait(GUARD)
    wait_until(lambda: runner.capacity() == total, "every slot back", timeout=GUARD)


def test_a_turn_killed_before_its_child_started_never_starts(
    runner: TurnRunner, tmp_path: Path
) -> None:
    slots = runner.capacity()
    handle, got = start(runner, spec("[[hang]]", tmp_path))
    handle.kill()  # at once: on a node, the kill may overtake the start
    assert got.exited.wait(GUARD)
    spawned = [i for i in got.items if isinstance(i, Spawned)]
    if spawned:
        wait_until(lambda: not running(spawned[0].pid), "the killed brain to die",
                   timeout=GUARD)
    wait_until(lambda: runner.capacity() == slots, "the slot back", timeout=GUARD)


@pytest.mark.ray
def test_a_ray_runner_that_closes_takes_its_node_actors_along_and_the_next_uses_its_own(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """As when the brain pool is restarted: the old runner closes, a new one starts at
    once. Sharing the old runner's actors by name meant turns sent to an actor that Ray
    was collecting, lost with it (seen in a run under load)."""
    import ray

    from wakeful.brain.ray_node import ACTOR_PREFIX
    from wakeful.brain.ray_runner import RayRunner

    def node_actors() -> set[str]:
        return {n for n in ray.util.list_named_actors() if n.startswith(ACTOR_PREFIX)}

    def ready_runner() -> RayRunner:
        made = RayRunner(BrainConfig(runner="ray", ray_address=ray_cluster.address),
                         on_change=lambda: None, refresh=0.2)
        wait_until(lambda: len(made.status().nodes) == 2, "both Ray nodes to join",
                   timeout=GUARD)
        return made

    first = ready_runner()
    old = wait_until(lambda: len(node_actors()) == 2 and node_actors(), "two node actors",
                     timeout=GUARD)
    first.close()
    second = ready_runner()
    try:
        wait_until(lambda: not (node_actors() & old), "the closed runner's actors to go",
                   timeout=GUARD)
        assert len(node_actors()) == 2, "the new runner has one actor per node, its own"
        _, got = start(second, spec("after the restart", tmp_path))
        assert got.wait().reason == "exited"
        [result] = [i for i in got.items if isinstance(i, TurnResult)]
        assert result.text == "echo: after the restart"
    finally:
        second.close()
