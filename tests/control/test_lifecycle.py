"""The socket across a kill -9 and a restart; `wakeful state` with nobody to ask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import BotApi
from tests.control.instance import REPO, Instance, env


def test_a_socket_left_by_a_killed_instance_is_replaced_on_restart(
    bot_api: BotApi, tmp_path: Path
) -> None:
    instance = Instance(bot_api, tmp_path, [820_001], delay=0.1)
    try:
        instance.start()
        instance.wait_serving()
        os.kill(instance.proc.pid, signal.SIGKILL)
        instance.proc.wait(timeout=30)
        assert instance.socket.exists(), "a killed instance cannot clean up"
        gone = instance.state("--config", str(instance.config), check=False)
        assert gone.returncode == 1
        assert gone.stderr == (f"wakeful: no wakeful is running at {instance.socket} (start "
                               "it with wakeful run, or pass --config/--socket)\n")

        instance.start()
        instance.wait_serving()
        assert f"replaced the socket left at {instance.socket}" in instance.log()
        assert instance.state_json()["wakeful"]["pid"] == instance.proc.pid
    finally:
        instance.stop()
    assert instance.proc.returncode == 0, instance.log()
    assert not instance.socket.exists(), "a clean stop removes the socket"


def _state(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wakeful", "state", *args], cwd=REPO,
                          env=env(**extra), capture_output=True, text=True, timeout=60)


def test_nobody_running_is_one_line_naming_where_it_looked(tmp_path: Path) -> None:
    done = _state("--socket", str(tmp_path / "none.sock"))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"wakeful: no wakeful is running at {tmp_path / 'none.sock'} "
                           "(start it with wakeful run, or pass --config/--socket)\n")

    config = tmp_path / "wakeful.toml"
    config.write_text(f'[journal]\npath = "{tmp_path / "j" / "journal.sqlite3"}"\n')
    done = _state("--config", str(config))
    assert done.returncode == 1
    assert f"at {tmp_path / 'j' / 'run' / 'control.sock'} (" in done.stderr
    done = _state("--config", str(config), XDG_RUNTIME_DIR=str(tmp_path / "xdg"))
    assert f"at {tmp_path / 'xdg' / 'wakeful' / 'control.sock'} (" in done.stderr
    done = _state("--json", WAKEFUL_CONTROL_SOCKET=str(tmp_path / "env.sock"))
    assert f"at {tmp_path / 'env.sock'} (" in done.stderr, "no --config: defaults and env"
    assert "Traceback" not in done.stderr


def test_a_bad_config_or_watch_interval_is_one_line(tmp_path: Path) -> None:
    done = _state("--config", str(tmp_path / "missing.toml"))
    assert (done.returncode, done.stderr) == (
        2, f"wakeful: config error: config file not found: {tmp_path / 'missing.toml'}\n")
    done = _state("--socket", str(tmp_path / "x.sock"), "--watch", "0")
    assert (done.returncode, done.stderr) == (
        2, "wakeful: --watch needs a positive number of seconds\n")
