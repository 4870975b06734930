"""The server's life: a stale socket replaced, a live one respected, a failing state answered."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wakeful.config import Config, ControlConfig, Secret, ServiceConfig
from wakeful.control.client import NotRunning, ask
from wakeful.control.errors import ControlError
from wakeful.control.protocol import Op, Request
from wakeful.control.server import ControlServer

TOKEN = "123456:AAE-secret-part-of-the-token"


class _Service:
    """Only the one method the server calls; what it returns is up to each test."""

    def __init__(self) -> None:
        self.reason = "fine"

    def state(self, timeout: float = 5.0) -> dict[str, Any]:
        if self.reason == "raise":
            raise RuntimeError("the tree is gone")
        return {"service": {"pid": os.getpid()}, "gave_up": self.reason, "actors": {}}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(control=ControlConfig(socket=str(tmp_path / "run" / "control.sock")),
                  token=Secret(TOKEN))


@pytest.fixture
def servers() -> Iterator[list[ControlServer]]:
    started: list[ControlServer] = []
    yield started
    for server in started:
        server.stop()


def _path(config: Config) -> Path:
    assert config.control.socket is not None
    return Path(config.control.socket)


def test_a_socket_left_behind_is_replaced_and_stop_removes_ours(
    config: Config, servers: list[ControlServer], caplog: pytest.LogCaptureFixture
) -> None:
    path = _path(config)
    path.parent.mkdir(mode=0o700)
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))
    left.close()  # a killed instance: the file stays, nobody listens
    with caplog.at_level(logging.INFO, logger="wakeful.control"):
        server = ControlServer.start(_Service(), config)
    servers.append(server)
    assert f"replaced the socket left at {path}" in caplog.text
    assert ask(path, Request(Op.PING))["pid"] == os.getpid()
    server.stop()
    assert not path.exists()
    with pytest.raises(NotRunning):
        ask(path, Request(Op.PING))


def test_a_second_server_on_the_same_socket_is_refused(
    config: Config, servers: list[ControlServer]
) -> None:
    servers.append(ControlServer.start(_Service(), config))
    with pytest.raises(ControlError) as refused:
        ControlServer.start(_Service(), config)
    assert str(refused.value) == (
        f"another wakeful (pid {os.getpid()}) serves at {_path(config)}; stop it first, or "
        "give this one its own [control] socket")
    assert ask(_path(config), Request(Op.PING))["ok"] is True, "the first one is untouched"


def test_someone_else_listening_there_is_not_ours_to_take(config: Config) -> None:
    path = _path(config)
    path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(str(path))
        other.listen(1)
        with pytest.raises(ControlError, match=f"another process serves at {path}"):
            ControlServer.start(_Service(), config)
    assert path.exists(), "left alone"


def test_a_file_that_is_not_a_socket_is_refused(config: Config) -> None:
    path = _path(config)
    path.parent.mkdir(mode=0o700)
    path.write_text("precious")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer.start(_Service(), config)
    assert path.read_text() == "precious"


def test_a_failing_state_is_an_error_line_and_the_server_goes_on(
    config: Config, servers: list[ControlServer]
) -> None:
    service = _Service()
    servers.append(ControlServer.start(service, config))
    service.reason = "raise"
    with pytest.raises(ControlError, match=r"cannot answer: RuntimeError\('the tree is gone'\)"):
        ask(_path(config), Request(Op.STATE))
    service.reason = "fine"
    assert ask(_path(config), Request(Op.STATE))["state"]["wakeful"]["gave_up"] == "fine"


def test_the_token_never_leaves_even_if_a_reason_quotes_it(
    config: Config, servers: list[ControlServer]
) -> None:
    service = _Service()
    service.reason = f"GET https://api.telegram.org/bot{TOKEN}/getUpdates failed"
    servers.append(ControlServer.start(service, config))
    answer = ask(_path(config), Request(Op.STATE))
    assert answer["state"]["wakeful"]["gave_up"] == (
        "GET https://api.telegram.org/bot***/getUpdates failed")


def test_stop_leaves_a_successors_socket_alone(config: Config) -> None:
    server = ControlServer.start(_Service(), config)
    path = _path(config)
    path.unlink()
    with socket.socket(socket.AF_UNIX) as successor:
        successor.bind(str(path))
        server.stop()
        assert path.exists()


def test_sigusr1_logs_the_document_as_one_json_line_when_the_log_is_json(
    tmp_path: Path, servers: list[ControlServer], caplog: pytest.LogCaptureFixture
) -> None:
    config = Config(control=ControlConfig(socket=str(tmp_path / "run" / "control.sock")),
                    service=ServiceConfig(log_format="json"), token=Secret(TOKEN))
    service = _Service()
    service.reason = f"quoting {TOKEN}"
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        with caplog.at_level(logging.INFO, logger="wakeful.control"):
            servers.append(ControlServer.start(service, config))
            os.kill(os.getpid(), signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while "state (SIGUSR1)" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
        (record,) = [r for r in caplog.records if "state (SIGUSR1)" in r.getMessage()]
        assert record.name == "wakeful.control" and record.levelno == logging.INFO
        assert record.threadName == "wakeful-control-dump", "never inside the handler"
        dumped = json.loads(record.getMessage().split("state (SIGUSR1): ", 1)[1])
        assert dumped["wakeful"]["gave_up"] == "quoting ***"
        assert TOKEN not in record.getMessage()
    finally:
        for server in servers:
            server.stop()
        signal.signal(signal.SIGUSR1, previous)
