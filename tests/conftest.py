"""Shared fixtures: a local Bot API server on loopback and the real service pointed at it."""

from __future__ import annotations

import itertools
import os
import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.supervision.faults import FaultyGateway
from wakeful.brain import standin
from wakeful.clock import Clock
from wakeful.config import (
    BrainConfig,
    ChatsConfig,
    Config,
    Secret,
    ServiceConfig,
    TelegramConfig,
    WatchdogConfig,
)
from wakeful.delivery.settings import DeliveryConfig
from wakeful.service import Service
from wakeful.state.journal import Journal, JournalConfig
from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token


@pytest.fixture(autouse=True, scope="session")
def _state_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test, and no service a test starts, writes a journal under the real home."""
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background of a script (`nohup scripts/dev.py test &`)
    # inherits SIGINT ignored, and so would every `wakeful` it starts: a test that
    # presses Ctrl-C on one would wait for ever. Give the suite the terminal's default.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("storms")
    group.addoption("--storm-seed", default=None,
                    help="replay a storm exactly: the seed it printed")
    group.addoption("--storm-size", default="default", choices=("default", "large"),
                    help="large: storms of 1,000+ chats (minutes)")


@pytest.fixture
def storm_random(request: pytest.FixtureRequest) -> random.Random:
    """Each storm's randomness, from --storm-seed or a fresh seed printed for a rerun."""
    given = request.config.getoption("--storm-seed")
    seed = int(given) if given is not None else random.SystemRandom().randrange(2**32)
    print(f"\n{request.node.nodeid}: storm seed {seed} (rerun with --storm-seed {seed})")
    return random.Random(seed)


class BotApi:
    """A fake Telegram reachable over real HTTP, with its user-side controls."""

    def __init__(self, core: BotApiCore, server: LocalBotApiServer, token: str,
                 tmp: Path) -> None:
        self.core = core
        self.server = server
        self.token = token
        self.tmp = tmp
        self._journals = itertools.count(1)

    def config(
        self,
        chat_ids: list[int],
        brain_delay: float = 0.2,
        cap: int = 4,
        brain_log: Path | None = None,
        journal: Path | None = None,
        mode: str = "queue",
        **brain: Any,
    ) -> Config:
        """A service for `chat_ids`; each call gets a fresh journal unless one is given
        (pass the same path to a second service to play a restart). `mode`: the chats'
        queue mode; "queue" (a turn per message) unless a test is about the modes."""
        env = {"WAKEFUL_STANDIN_LOG": str(brain_log)} if brain_log else {}
        # Retried brain failures wait 0.1 s, not seconds: the tests are about what happens.
        brain_config = BrainConfig(
            command=standin.command(brain_delay), max_concurrent=cap, env=env,
            turn_budget=60.0, kill_grace=1.0, retry_initial_delay=0.1, retry_max_delay=0.5,
        )
        return Config(
            # No flood limit: these tests send bursts on purpose (tests/test_budgets_and_
            # limits.py sets one).
            telegram=TelegramConfig(base_url=self.server.base_url, poll_timeout=2.0,
                                    allowed_user_ids=tuple(chat_ids), flood_messages=0),
            brain=replace(brain_config, **brain),
            watchdog=WatchdogConfig(heartbeat_interval=0.5, stale_after=30.0),
            journal=JournalConfig(path=str(journal or self.new_journal()), synchronous="normal"),
            service=ServiceConfig(shutdown_grace=5.0),
            chats=ChatsConfig(mode=mode),
            token=Secret(self.token),
        )

    @staticmethod
    def on_fake_time(config: Config) -> Config:
        """For tests that stop the clock: Telegram's per-chat limit (1 message a second)
        would hold answers until fake time moves; these tests are about something else."""
        return replace(config, delivery=DeliveryConfig(per_chat_per_second=1000,
                                                       per_group_per_minute=1000))

    def new_journal(self) -> Path:
        return self.tmp / f"journal-{next(self._journals)}.sqlite3"

    def replies(self, chat_id: int) -> list[Any]:
        return [r for r in self.core.sent(chat_id)
                if r.kind == "message" and r.reply_to_message_id is not None]

    def wait_replies(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Any]:
        assert self.core.wait_for(lambda c: len(self.replies(chat_id)) >= count, timeout), (
            f"chat {chat_id}: expected {count} replies, got {self.replies(chat_id)}"
        )
        return self.replies(chat_id)


@pytest.fixture
def bot_api(tmp_path: Path) -> Iterator[BotApi]:
    token = random_token()
    core = BotApiCore(token)
    with LocalBotApiServer(core) as server:
        yield BotApi(core, server, token, tmp_path)


@pytest.fixture
def run_service() -> Iterator[Callable[[Config], Service]]:
    """Start services for a test and always stop them, even when the test fails."""
    started: list[Service] = []

    def start(config: Config) -> Service:
        service = Service(config)
        service.start()
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop(grace=0)


@pytest.fixture
def service() -> Iterator[Callable[..., tuple[Service, FaultyGateway]]]:
    """Start the real service with a fault-injecting gateway; stop it after the test."""
    started: list[tuple[Service, FaultyGateway]] = []

    def start(config: Config, clock: Clock | None = None,
              journal: Journal | None = None) -> tuple[Service, FaultyGateway]:
        gateway = FaultyGateway.for_config(config)
        svc = Service(config, clock=clock, gateway=gateway, journal=journal)
        started.append((svc, gateway))
        svc.start()
        return svc, gateway

    yield start
    for svc, gateway in reversed(started):
        gateway.release_all()
        release = getattr(svc.journal, "release_all", None)
        if release is not None:
            release()
        svc.stop(grace=0)
