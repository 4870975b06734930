"""Storm fixtures: a seeded random source that prints its seed, and subprocess services."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotApi
from tests.storms.process import ServiceProcess


@pytest.fixture
def storm_random(request: pytest.FixtureRequest) -> random.Random:
    """Each storm's randomness, from --storm-seed or a fresh seed printed for a rerun."""
    given = request.config.getoption("--storm-seed")
    seed = int(given) if given is not None else random.SystemRandom().randrange(2**32)
    print(f"\n{request.node.nodeid}: storm seed {seed} (rerun with --storm-seed {seed})")
    return random.Random(seed)


@pytest.fixture
def service_process(bot_api: BotApi, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    made: list[ServiceProcess] = []

    def make(chats: list[int], home: Path | None = None, **options: Any) -> ServiceProcess:
        process = ServiceProcess(bot_api, home or tmp_path, chats, **options)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
