"""Brain fixtures: the real Claude Code CLI against the fake Messages API, through the service.

A missing CLI binary is a failure, never a skip, so a broken tool install cannot make
the suite silently green.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.brain.turns import group_alive
from tests.conftest import BotApi
from wakeful.actors import status
from wakeful.config import Config
from wakeful.demo.claude import ClaudeNotFound, find_claude, offline_brain
from wakeful.service import Service
from wakeful.testing.bot_api import SentRecord
from wakeful.testing.fake_anthropic import EchoPrompt, FakeAnthropicApi, Script

# Short enough that every failure test ends in seconds, long enough for a loaded machine.
FAST_TIMERS: dict[str, Any] = {
    "first_event_timeout": 15.0,
    "idle_timeout": 15.0,
    "turn_budget": 40.0,
    "result_grace": 1.0,
    "kill_grace": 1.0,
    "max_attempts": 3,
    "retry_budget": 20.0,
    "retry_initial_delay": 0.2,
    "retry_max_delay": 1.0,
}


@pytest.fixture(scope="session")
def claude_bin() -> str:
    try:
        return find_claude()
    except ClaudeNotFound as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropicApi]:
    with FakeAnthropicApi(Script(default=EchoPrompt())) as api:
        yield api


@dataclass
class Bridge:
    """The whole service with a real brain, seen from Telegram's side."""

    bot_api: BotApi
    service: Service
    started: Callable[[Config], Service]

    @property
    def core(self) -> Any:
        return self.bot_api.core

    def say(self, chat: int, text: str) -> int:
        return self.core.inject_text(chat, text, user_id=chat)["message"]["message_id"]

    def replies(self, chat: int) -> list[SentRecord]:
        return self.bot_api.replies(chat)

    def wait_replies(self, chat: int, count: int, timeout: float = 30.0) -> list[SentRecord]:
        return self.bot_api.wait_replies(chat, count, timeout)

    def notices(self, chat: int) -> list[SentRecord]:
        """Messages that answer nothing: status messages and notices, as first sent."""
        return [r for r in self.core.sent(chat)
                if r.kind == "message" and r.reply_to_message_id is None]

    def status_history(self, chat: int) -> list[list[str]]:
        """Per status message, every text it showed, in order (send, then each edit)."""
        records = self.core.sent(chat)
        history = []
        for first in self.notices(chat):
            if first.text and first.text.startswith("ℹ️"):
                continue
            edits = [r.text for r in records if r.kind == "edit"
                     and r.message_id == first.message_id]
            history.append([first.text, *edits])
        return history

    def final_status(self, chat: int, timeout: float = 10.0) -> list[str]:
        """The last status message's texts, once it shows how its turn ended (or, for a
        wait that simply ended, when it started: that needs no closing edit)."""
        finals = {status.ANSWERED, status.FAILED, status.CANCELLED}

        def settled(_: object) -> bool:
            history = self.status_history(chat)
            return bool(history) and (history[-1][-1] in finals
                                      or history[-1][-1].startswith(status.STARTED))

        assert self.core.wait_for(settled, timeout), self.status_history(chat)
        return self.status_history(chat)[-1]

    def pool(self) -> dict[str, Any]:
        return self.service.ask("brain_pool")

    def attempts(self, chat: int) -> list[dict[str, Any]]:
        return [a for a in self.pool()["recent"] if a["chat"] == chat]


def assert_no_leftovers(service: Service, timeout: float = 10.0) -> None:
    """Every brain this service ever started is gone, with its whole process group, but
    the ones kept warm for their chat's next turn (at most max_warm).

    A warm process evicted or expired a moment ago is closed by EOF and has up to
    kill_grace to save its session and exit, so the check waits for that (timeout is
    only a guard against a hang)."""
    pool = service.ask("brain_pool")
    assert pool["running"] == [], pool["running"]
    assert pool["backing_off"] == [] and pool["waiting"] == []
    pgids = [a["pgid"] for a in pool["recent"] if a["pgid"]]
    assert pgids, "no brain ever ran"
    deadline = time.monotonic() + timeout
    while True:
        pool = service.ask("brain_pool")
        warm = {w["pid"] for w in pool["warm"]}
        assert len(warm) <= pool["max_warm"], pool["warm"]
        alive = [pgid for pgid in pgids if pgid not in warm and group_alive(pgid)]
        if not alive:
            return
        assert time.monotonic() < deadline, f"brain process groups left behind: {alive}"
        time.sleep(0.05)


@pytest.fixture
def claude_bridge(
    bot_api: BotApi, run_service: Callable[[Config], Service], anthropic: FakeAnthropicApi,
    claude_bin: str, tmp_path: Path,
) -> Callable[..., Bridge]:
    """Start the service for `chats` with the real CLI; keyword args override [brain]."""

    def start(chats: list[int], **brain: Any) -> Bridge:
        config = bot_api.config(chats, **{**FAST_TIMERS, **brain})
        config = replace(config, brain=offline_brain(config.brain, claude_bin,
                                                     anthropic.base_url, tmp_path / "home"))
        if "command" in brain:  # a wrapper around the real CLI, e.g. to add garbage
            config = replace(config, brain=replace(config.brain, command=brain["command"]))
        return Bridge(bot_api, run_service(config), run_service)

    return start


@pytest.fixture
def standin_bridge(
    bot_api: BotApi, run_service: Callable[[Config], Service],
) -> Callable[..., Bridge]:
    """Start the service for `chats` with the stand-in brain; keyword args override [brain]."""

    def start(chats: list[int], **brain: Any) -> Bridge:
        config = bot_api.config(chats, **{**FAST_TIMERS, **brain})
        return Bridge(bot_api, run_service(config), run_service)

    return start


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A loopback Ray cluster (head + 2 workers) shared by a module's `ray` tests; gone
    after them, so the rest of the run does not share two cores with three raylets."""
    from tests.brain.ray_cluster import start_cluster

    yield from start_cluster()
