"""`wakeful check` with `[brain] runner = "ray"`: a cluster it cannot use is one clear line.

The passing case (a live loopback cluster) is in tests/brain/test_ray_cluster.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
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
from wakeful.ops.ray_check import check_ray, head_endpoint, probe_environment


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


def test_the_ray_probe_never_carries_the_bot_token(
    bot_api: BotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The preflight runs before `run` drops the token from its environment: the probe
    # it starts must not inherit it. A stand-in interpreter records what it was given
    # and answers as the probe would, so no cluster is needed.
    seen = tmp_path / "probe-environ"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nenv > {seen}\necho '{{\"nodes\": 1, \"slots\": 2}}'\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(importlib.util, "find_spec", _ray_present(importlib.util.find_spec))
    monkeypatch.setenv("MY_BOT_TOKEN", bot_api.token)  # a token_env of the operator's choice
    monkeypatch.setenv("WAKEFUL_TELEGRAM_TOKEN", bot_api.token)
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    config = _config(bot_api, tmp_path)
    config = replace(config, telegram=replace(config.telegram, token_env="MY_BOT_TOKEN"),
                     brain=replace(config.brain, runner="ray", ray_address="auto"))

    assert preflight(config) == []
    environ = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    secret_part = bot_api.token.split(":", 1)[1]
    assert not [name for name, value in environ.items() if secret_part in value], environ
    assert "MY_BOT_TOKEN" not in environ and "WAKEFUL_TELEGRAM_TOKEN" not in environ
    # What a Ray driver needs is still there.
    assert environ["PATH"] == os.environ["PATH"] and environ["RAY_ADDRESS"] == "auto"
    assert environ["HOME"] == os.environ["HOME"]


def test_the_probe_environment_is_an_allowlist_without_the_token_variable() -> None:
    service = {"PATH": "/bin", "HOME": "/root", "LC_ALL": "C.UTF-8", "RAY_TLS_CA_CERT": "ca",
               "RAY_BOT_TOKEN": "1:abc", "WAKEFUL_TELEGRAM_TOKEN": "1:abc",
               "ANTHROPIC_API_KEY": "sk-x", "AWS_SECRET_ACCESS_KEY": "x"}
    assert probe_environment(service, "RAY_BOT_TOKEN") == {
        "PATH": "/bin", "HOME": "/root", "LC_ALL": "C.UTF-8", "RAY_TLS_CA_CERT": "ca"}


def _ray_present(real: Any) -> Any:
    """find_spec that finds ray whether or not it is installed here."""

    def find_spec(name: str, *args: Any) -> Any:
        return real("json") if name == "ray" else real(name, *args)

    return find_spec
