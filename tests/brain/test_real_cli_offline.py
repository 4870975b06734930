"""The real Claude Code CLI against the local fake Messages API, fully offline.

These pin the CLI behaviour the brain relies on: the stream-json shape, resume,
529 retries and API errors. A missing binary is a failure, never a skip, so a
broken tool install cannot make the suite silently green.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wakeful.brain.events import ApiRetry, AssistantText, BrainEvent, SessionStarted, TurnResult
from wakeful.brain.stream_json import StreamJsonParser
from wakeful.testing.fake_anthropic import (
    Answer,
    EchoPrompt,
    ErrorStatus,
    FakeAnthropicApi,
    MalformedSse,
    Overloaded,
    Script,
    claude_env,
)

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(60)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".tools" / "claude-code-2.1.328" / "node_modules" / ".bin" / "claude"
TURN_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def claude_bin() -> str:
    path = Path(os.environ.get("WAKEFUL_CLAUDE_BIN") or DEFAULT_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"Claude Code CLI not found or not executable at {path}. "
            "Install it under .tools/ (see scripts/) or point WAKEFUL_CLAUDE_BIN at it.",
            pytrace=False,
        )
    return str(path)


@pytest.fixture
def api() -> Iterator[FakeAnthropicApi]:
    with FakeAnthropicApi() as server:
        yield server


@dataclass
class Turn:
    events: list[BrainEvent]
    parser: StreamJsonParser
    returncode: int
    stderr: str
    elapsed: float

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def result(self) -> TurnResult:
        results = self.of(TurnResult)
        assert len(results) == 1, f"expected one result, got {self.events}\nstderr: {self.stderr}"
        return results[0]

    @property
    def session_id(self) -> str:
        [started] = self.of(SessionStarted)
        return started.session_id


@dataclass
class Cli:
    binary: str
    api: FakeAnthropicApi
    home: Path
    cwd: Path

    def turn(self, prompt: str, *args: str, stdin: str | None = None) -> Turn:
        """One run; with `stdin`, the prompt goes there instead of argv (as wakeful does)."""
        head = [self.binary, "-p"] if stdin is not None else [self.binary, "-p", prompt]
        cmd = [*head, "--output-format", "stream-json", "--verbose", *args]
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            env=claude_env(self.api.base_url, str(self.home)),
            # Sessions are stored per project dir, so --resume needs the same cwd.
            cwd=self.cwd,
            input=(stdin or "").encode(),
            capture_output=True,
            timeout=TURN_TIMEOUT_S,
        )
        elapsed = time.monotonic() - started
        parser = StreamJsonParser()
        events = [e for raw in proc.stdout.splitlines() for e in parser.feed(raw)]
        assert parser.garbage_lines == 0, f"garbage on stdout: {parser.last_garbage!r}"
        return Turn(events, parser, proc.returncode, proc.stderr.decode(errors="replace"), elapsed)


@pytest.fixture
def cli(claude_bin: str, api: FakeAnthropicApi, tmp_path: Path) -> Cli:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    return Cli(claude_bin, api, home, cwd)


def test_normal_answer(cli: Cli, api: FakeAnthropicApi) -> None:
    api.script.push(Answer("Hello from the fake Messages API.", chunk_size=7))
    turn = cli.turn("say hello")

    assert turn.returncode == 0, turn.stderr
    assert turn.session_id
    assert turn.of(AssistantText) == [AssistantText("Hello from the fake Messages API.")]
    result = turn.result
    assert result.text == "Hello from the fake Messages API."
    assert (result.subtype, result.is_error) == ("success", False)
    assert result.session_id == turn.session_id
    assert result.num_turns == 1
    # With non-essential traffic off, a plain turn is exactly one streamed request.
    [req] = api.requests
    assert (req.method, req.stream, req.user_text) == ("POST", True, "say hello")
    assert req.path.startswith("/v1/messages")


def test_resume_continues_the_session(cli: Cli, api: FakeAnthropicApi) -> None:
    api.script.push(Answer("The secret word is PLOVER."), EchoPrompt(prefix="again: "))
    first = cli.turn("remember a word")
    assert first.result.text == "The secret word is PLOVER."

    second = cli.turn("what was it?", "--resume", first.session_id)
    assert second.returncode == 0, second.stderr
    assert second.result.text == "again: what was it?"
    assert second.result.is_error is False
    # The resumed request carries the earlier exchange, i.e. history was really loaded.
    history = str(api.message_requests[-1].body)
    assert "remember a word" in history
    assert "PLOVER" in history


def test_overloaded_twice_then_answer(cli: Cli, api: FakeAnthropicApi) -> None:
    api.script.push(Overloaded(times=2), Answer("made it"))
    turn = cli.turn("are you there?")

    retries = turn.of(ApiRetry)
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.error_status == 529 and r.error == "overloaded" for r in retries)
    assert all((r.retry_delay_ms or 0) > 0 for r in retries)
    # Retries come before the answer in the stream.
    assert turn.events.index(retries[-1]) < turn.events.index(turn.result)
    assert turn.result.text == "made it"
    assert turn.result.is_error is False
    assert [r.step for r in api.message_requests] == ["Overloaded", "Overloaded", "Answer"]


def test_persistent_overload_gives_up_with_is_error(cli: Cli, api: FakeAnthropicApi) -> None:
    # Surprising but measured: 3 consecutive 529s end the turn, despite max_retries=10.
    api.script = Script(default=Overloaded(times=1))
    turn = cli.turn("anyone?")

    assert turn.result.is_error is True
    assert turn.result.subtype == "success"
    assert turn.result.api_error_status == 529
    assert turn.returncode != 0
    assert len(turn.of(ApiRetry)) >= 1


def test_bad_request_ends_with_is_error(cli: Cli, api: FakeAnthropicApi) -> None:
    # Every request fails: the CLI retries a 400 a few times, dropping betas each time.
    api.script = Script(default=ErrorStatus(400, "invalid_request_error", "prompt is too weird"))
    turn = cli.turn("do something")

    result = turn.result
    assert result.is_error is True
    assert result.api_error_status == 400
    assert "prompt is too weird" in result.text
    assert turn.of(AssistantText) == []
    assert turn.returncode != 0


def test_echo_prompt_sees_the_prompt(cli: Cli, api: FakeAnthropicApi) -> None:
    api.script.push(EchoPrompt())
    prompt = "What is 2+2? Answer in one word ✓\nsecond line"
    turn = cli.turn(prompt)

    assert turn.result.text == f"echo: {prompt}"
    assert api.message_requests[0].user_text == prompt


def test_malformed_stream_falls_back_to_a_non_streaming_request(
    cli: Cli, api: FakeAnthropicApi
) -> None:
    api.script.push(MalformedSse(), Answer("recovered"))
    turn = cli.turn("hi")

    assert turn.result.text == "recovered"
    assert [r.stream for r in api.message_requests] == [True, False]


def test_the_prompt_can_come_on_stdin_so_it_never_shows_in_ps(
    cli: Cli, api: FakeAnthropicApi
) -> None:
    api.script.push(EchoPrompt())
    prompt = "--looks-like-a-flag but is a prompt\nwith two lines"
    turn = cli.turn("", stdin=prompt)

    assert turn.returncode == 0, turn.stderr
    assert turn.result.text == f"echo: {prompt}"


def test_resuming_a_missing_session_fails_before_init_and_names_the_session(
    cli: Cli, api: FakeAnthropicApi
) -> None:
    missing = "6f1c3a52-0000-4000-8000-000000000000"
    turn = cli.turn("hello?", "--resume", missing)

    assert turn.of(SessionStarted) == [], "no init: nothing was started that could be resumed"
    result = turn.result
    assert (result.subtype, result.is_error) == ("error_during_execution", True)
    assert f"No conversation found with session ID: {missing}" in result.text
    assert api.message_requests == []
    assert turn.returncode == 1
