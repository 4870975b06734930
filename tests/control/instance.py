"""A `wakeful run` subprocess with its control socket in a tmp dir, and `wakeful state` runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import BotApi

REPO = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("WAKEFUL_") and k != "XDG_RUNTIME_DIR"}
    clean.update(extra)
    return clean


class Instance:
    """One config, one journal, one socket; as many runs as the test starts."""

    def __init__(self, bot_api: BotApi, tmp: Path, chats: list[int], *, delay: float = 60.0,
                 cap: int = 2, socket: Path | None = None) -> None:
        self.bot_api = bot_api
        self.tmp = tmp
        self.socket = socket or tmp / "run" / "control.sock"
        self.config = tmp / "wakeful.toml"
        brain = [sys.executable, "-m", "wakeful.brain.standin", "--delay", str(delay)]
        self.config.write_text(
            f'[telegram]\nbase_url = "{bot_api.server.base_url}"\npoll_timeout = 1\n'
            f"allowed_user_ids = {json.dumps(chats)}\n\n"
            f"[brain]\ncommand = {json.dumps(brain)}\nmax_concurrent = {cap}\n\n"
            f'[journal]\npath = "{tmp / "journal.sqlite3"}"\nsynchronous = "normal"\n\n'
            "[service]\nshutdown_grace = 0\n\n"
            # A message sent while a turn runs waits behind it (what the dumps show).
            '[chats]\nmode = "queue"\n\n'
            "[watchdog]\nheartbeat_interval = 0.5\nstale_after = 10\n\n"
            f'[control]\nsocket = "{self.socket}"\n')
        self.runs: list[subprocess.Popen[str]] = []
        self.outputs: list[str] = []  # everything any `wakeful state` printed

    @property
    def proc(self) -> subprocess.Popen[str]:
        return self.runs[-1]

    @property
    def log_path(self) -> Path:
        return self.tmp / f"run-{len(self.runs)}.log"

    def start(self) -> subprocess.Popen[str]:
        log = open(self.tmp / f"run-{len(self.runs) + 1}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "wakeful", "run", "--config", str(self.config)],
            cwd=REPO, env=env(WAKEFUL_TELEGRAM_TOKEN=self.bot_api.token),
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        log.close()
        self.runs.append(proc)
        return proc

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_serving(self, timeout: float = 60.0) -> None:
        assert wait_until(lambda: "serving;" in self.log() or self.proc.poll() is not None,
                          timeout), self.log()
        assert self.proc.poll() is None, self.log()

    def state(self, *args: str, check: bool = True,
              **run: Any) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "wakeful", "state", *args], cwd=REPO, env=env(),
            capture_output=True, text=True, timeout=60, **run)
        self.outputs.append(done.stdout + done.stderr)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def state_json(self, *args: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            self.state("--json", "--config", str(self.config), *args).stdout)
        return document

    def stop(self) -> None:
        """SIGTERM (with no grace, running brains go at once); SIGKILL if that hangs."""
        for proc in self.runs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """Poll `predicate`; the timeout is a hang guard, not a measurement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()
