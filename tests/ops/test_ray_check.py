"""`wakeful check` with `[brain] runner = "ray"`: a cluster it cannot use is one clear line.

The passing case (a live loopback cluster) is in tests/brain/test_ray_cluster.py.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotApi
from tests.ops.test_check import _closed_port, _config
from wakeful.config import BrainConfig
from wakeful.ops.check import findings, preflight
from wakeful.ops.findings import Outcome
from wakeful.ops.ray_check import check_ray, head_endpoint


def test_an_unreachable_head_is_one_line_naming_the_address_and_the_reason() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    finding = check_ray(BrainConfig(runner="ray", ray_address=address))
    assert finding.outcome is Outcome.PROBLEM
    assert finding.line == f"cannot reach the Ray head at {address}: Connection refused"
    assert time.monotonic() - began < 5, "a refused port must not wait for Ray's timeouts"


def test_ray_missing_is_named_with_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_ray(name: str, *args: Any) -> Any:
        return None if name == "ray" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_ray)
    finding = check_ray(BrainConfig(runner="ray"))
    assert finding.outcome is Outcome.PROBLEM
    assert "pip install 'wakeful[ray]'" in finding.line


def test_run_refuses_to_start_when_the_ray_head_is_unreachable(
    bot_api: BotApi, tmp_path: Path
) -> None:
    address = f"ray://127.0.0.1:{_closed_port()}"
    config = _config(bot_api, tmp_path)
    problems = preflight(replace(config, brain=replace(config.brain, runner="ray",
                                                       ray_address=address)))
    assert problems == [f"cannot reach the Ray head at {address}: Connection refused"]


def test_the_local_runner_asks_nothing_of_ray(bot_api: BotApi, tmp_path: Path) -> None:
    lines = [f.line for f in findings(_config(bot_api, tmp_path))]
    assert not any("Ray" in line or "ray" in line.split()[0] for line in lines), lines


@pytest.mark.parametrize(("address", "endpoint"), [
    ("auto", None), ("10.0.0.5:6379", ("10.0.0.5", 6379)),
    ("ray://head.example:10001", ("head.example", 10001)),
])
def test_head_endpoint_reads_plain_and_client_addresses(
    address: str, endpoint: tuple[str, int] | None
) -> None:
    assert head_endpoint(address) == endpoint
