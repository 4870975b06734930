"""Follow-ups, interrupts and cancels with the real Claude Code CLI, offline.

The pinned CLI runs in a real turn child (as the pool runs it: FIXED_FLAGS, stdin a
pipe) against the fake Messages API, which answers the first request with a Bash
tool call, so a test can speak to the CLI while the tool runs. What the fake receives
shows where a follow-up landed in the conversation.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brain.sessions import Session
from tests.brain.turns import wait_until
from wakeful.brain import procfs, session_protocol
from wakeful.brain.child import FollowUp, Spawned
from wakeful.brain.command import FIXED_FLAGS
from wakeful.brain.events import MessageLifecycle, MessageTaken, ToolUse, TurnResult
from wakeful.brain.outcome import Failure
from wakeful.testing.fake_anthropic import (
    EchoPrompt,
    FakeAnthropicApi,
    Script,
    UseTool,
    claude_env,
    last_user_text,
    mid_turn_texts,
)

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(90)]
TOOL_FLAGS = ("--allowedTools", "Bash", "--permission-mode", "dontAsk")
# A long tool run. Not `sleep 30`: the CLI blocks a long standalone sleep at once
# ("Blocked: standalone sleep 30 ..."), so the tool would not be running at all.
LONG_TOOL = "python3 -c 'import time; time.sleep(30)'"


@pytest.fixture
def api() -> Iterator[FakeAnthropicApi]:
    with FakeAnthropicApi(Script(default=EchoPrompt())) as server:
        yield server


def cli_session(claude_bin: str, api: FakeAnthropicApi, tmp_path: Path, prompt: str,
                resume: str | None = None) -> Session:
    home = tmp_path / "home"
    env = claude_env(api.base_url, str(home))
    return Session(prompt, tmp_path, argv=(claude_bin, *FIXED_FLAGS, *TOOL_FLAGS),
                   resume=resume, env=env, cwd=str(home / "cwd"))


def tool_running(s: Session) -> bool:
    """LONG_TOOL runs under the brain (the CLI gives each Bash call a process group of
    its own, so look by descent, not by group)."""
    [spawned] = s.of(Spawned)
    parents = {p.pid: p.ppid for p in procfs.processes()}
    for pid in parents:
        cmdline = b""
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"time.sleep(30)" not in cmdline:
            continue
        ancestor = pid
        while ancestor in parents and ancestor != spawned.pid:
            ancestor = parents[ancestor]
        if ancestor == spawned.pid:
            return True
    return False


def _has_tool_result(body: dict[str, Any]) -> bool:
    return any(isinstance(block, dict) and block.get("type") == "tool_result"
               for message in body.get("messages", [])
               if isinstance(message.get("content"), list)
               for block in message["content"])


def test_a_follow_up_during_a_bash_call_is_taken_into_the_same_turn(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path,
) -> None:
    api.script.push(UseTool("Bash", {"command": "sleep 2", "description": "wait"}))
    with cli_session(claude_bin, api, tmp_path, "first") as s:
        s.wait_for(ToolUse)  # the tool runs now
        assert len(api.message_requests) == 1  # its result is not back yet
        follow_up = session_protocol.new_uuid()
        s.process.send(FollowUp(follow_up, "second"))
        report = s.report()
        assert report.reason == "exited" and report.exit_code == 0, report
        [result] = s.of(TurnResult)  # one turn: the follow-up went into it
        assert not result.is_error and result.text == "echo: first + second"
        assert follow_up in (result.message_uuids or ())
        assert MessageTaken(follow_up) in s.items
        assert s.outcome().text == "echo: first + second"
        first, after_tool = (r.body or {} for r in api.message_requests)
        assert last_user_text(first) == "first" and mid_turn_texts(first) == []
        # The follow-up reached the model with the tool's result, in the same turn.
        assert _has_tool_result(after_tool) and mid_turn_texts(after_tool) == ["second"]
        s.assert_group_gone()


def test_an_interrupt_ends_the_tool_and_the_process_goes_on_with_the_follow_up(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path,
) -> None:
    marker = tmp_path / "tool-finished"
    api.script.push(UseTool("Bash", {"command": f"{LONG_TOOL} && touch {marker}"}))
    with cli_session(claude_bin, api, tmp_path, "first") as s:
        s.wait_for(ToolUse)
        wait_until(lambda: tool_running(s), "the tool to run")
        assert len(api.message_requests) == 1  # its result is not back yet
        started = time.monotonic()
        s.process.send(FollowUp(session_protocol.new_uuid(), "second", interrupt=True))
        report = s.report()
        assert time.monotonic() - started < 10  # not the tool's 30 s
        assert report.reason == "exited" and report.exit_code == 0, report
        interrupted, answered = s.of(TurnResult)
        assert interrupted.is_error and not answered.is_error
        assert answered.text.endswith("second")
        outcome = s.outcome()
        assert outcome.ok and outcome.text == answered.text
        assert not marker.exists()  # the running Bash was killed, not waited for
        # One process, one session for both turns.
        assert interrupted.session_id == answered.session_id
        s.assert_group_gone()


def test_cancel_interrupts_and_the_next_turn_resumes_the_session(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path,
) -> None:
    api.script.push(UseTool("Bash", {"command": LONG_TOOL}))
    with cli_session(claude_bin, api, tmp_path, "remember the word kumquat") as s:
        s.wait_for(ToolUse)
        wait_until(lambda: tool_running(s), "the tool to run")
        assert len(api.message_requests) == 1  # its result is not back yet
        started = time.monotonic()
        s.process.cancel()
        report = s.report()
        assert time.monotonic() - started < 5
        # It exits by itself (1: its last turn ended in the interrupt's error), unkilled.
        assert report.reason == "cancelled" and report.exit_code == 1, report
        outcome = s.outcome()
        assert outcome.failure is Failure.CANCELLED and not outcome.session_unsafe
        assert outcome.session_id
        s.assert_group_gone()
    (tmp_path / "prompts.jsonl").unlink(missing_ok=True)
    with cli_session(claude_bin, api, tmp_path, "what was the word?",
                     resume=outcome.session_id) as again:
        assert again.outcome().text == "echo: what was the word?"
    history = str((api.message_requests[-1].body or {}).get("messages"))
    assert "remember the word kumquat" in history  # the session was kept


def test_cancel_also_stops_a_follow_up_queued_behind_the_running_tool(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path,
) -> None:
    # The follow-up's own request would take 10 s: it must never be made.
    api.script.push(UseTool("Bash", {"command": LONG_TOOL}), EchoPrompt(delay=10))
    with cli_session(claude_bin, api, tmp_path, "first") as s:
        s.wait_for(ToolUse)
        wait_until(lambda: tool_running(s), "the tool to run")
        s.process.send(FollowUp(session_protocol.new_uuid(), "second"))
        wait_until(lambda: any(e.state == "queued" for e in s.of(MessageLifecycle)
                               if e.uuid != s.of(MessageTaken)[0].uuid), "the follow-up queued")
        started = time.monotonic()
        s.process.cancel()
        report = s.report()
        assert time.monotonic() - started < 5
        assert report.reason == "cancelled" and report.exit_code == 1, report  # by itself
        assert [r.is_error for r in s.of(TurnResult)] == [True, True]
        outcome = s.outcome()
        assert outcome.failure is Failure.CANCELLED and not outcome.session_unsafe
        # Its request may have gone out before the interrupt landed; it was never waited
        # for (10 s) nor answered.
        assert [r.user_text for r in api.message_requests][:1] == ["first"]
        assert len(api.message_requests) <= 2
        s.assert_group_gone()


ODD = 'quotes " \' \\ newlines \n\r\n tab \t unicode 日本語 🙂 \u2028 \u2029 \x1b[31m end'


@pytest.mark.parametrize("prompt", [ODD, "x" * 100_000 + ODD, ODD * 2000],
                         ids=["odd", "100kb", "odd-100kb"])
def test_odd_and_large_prompts_never_break_the_stream(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path, prompt: str,
) -> None:
    with cli_session(claude_bin, api, tmp_path, prompt) as s:
        report = s.report()
        assert report.reason == "exited" and report.exit_code == 0, report
        assert report.garbage_lines == 0
        [request] = api.message_requests
        assert last_user_text(request.body or {}) == prompt
        assert s.outcome().ok


def test_the_prompt_is_never_in_argv(
    claude_bin: str, api: FakeAnthropicApi, tmp_path: Path,
) -> None:
    api.script.push(UseTool("Bash", {"command": "sleep 2"}))
    with cli_session(claude_bin, api, tmp_path, "a secret prompt") as s:
        s.wait_for(ToolUse)
        [spawned] = s.of(Spawned)
        cmdline = Path(f"/proc/{spawned.pid}/cmdline").read_bytes()
        assert b"a secret prompt" not in cmdline
        assert os.path.exists(f"/proc/{spawned.pid}")
        s.report()
