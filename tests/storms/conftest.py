"""Storm fixtures: services run as subprocesses (`storm_random` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotApi
from tests.storms.process import ServiceProcess


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
