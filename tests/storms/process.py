"""`wakeful run` as a real subprocess, the way an operator runs it, for storms about processes.

The local Bot API server and the simulated users live in the test process; the service,
its fork server, turn processes and stand-in brains are real processes that can be
killed. The stand-in brains log when they run and what they were given.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import BotApi
from wakeful.delivery.settings import DeliveryConfig
from wakeful.service import Service
from wakeful.testing.bot_api import BotApiCore, InProcessRequest, random_token

REPO = Path(__file__).resolve().parents[2]
IN_PROCESS_URL = "http://in-process/bot"


@dataclass(frozen=True)
class BrainRun:
    pid: int
    resume: str | None
    prompt: str


class ServiceProcess:
    """One journal, one config, and as many runs of `wakeful run` as the test makes."""

    def __init__(self, bot_api: BotApi, tmp: Path, chats: list[int], *, brain_delay: float = 0.3,
                 cap: int = 4, grace: float = 5.0, extra: str = "") -> None:
        self.bot_api = bot_api
        self.tmp = tmp
        self.journal = tmp / "journal.sqlite3"
        self.brain_log = tmp / "brains.log"
        self.prompts = tmp / "prompts.jsonl"
        self.config = tmp / "wakeful.toml"
        self.cap = cap
        self.runs: list[subprocess.Popen[str]] = []
        self.outputs: list[str] = []
        brain = [sys.executable, "-m", "wakeful.brain.standin", "--delay", str(brain_delay)]
        self.config.write_text(
            f'[telegram]\nbase_url = "{bot_api.server.base_url}"\npoll_timeout = 2\n'
            f"allowed_user_ids = {json.dumps(chats)}\n\n"
            f"[brain]\ncommand = {json.dumps(brain)}\nmax_concurrent = {cap}\n"
            "retry_initial_delay = 0.2\nretry_max_delay = 0.5\nkill_grace = 1.0\n"
            f'env = {{ WAKEFUL_STANDIN_LOG = "{self.brain_log}", '
            f'WAKEFUL_STANDIN_PROMPTS = "{self.prompts}" }}\n\n'
            f'[journal]\npath = "{self.journal}"\nsynchronous = "normal"\n\n'
            f"[service]\nshutdown_grace = {grace}\n\n"
            # One turn and one reply per message: what the storms' invariants count.
            '[chats]\nmode = "queue"\n\n'
            "[watchdog]\nheartbeat_interval = 0.5\nstale_after = 10\n\n"
            # Its own socket: never the runtime dir's, where a real wakeful may be serving.
            f'[control]\nsocket = "{tmp / "run" / "control.sock"}"\n' + extra)

    @property
    def current(self) -> subprocess.Popen[str]:
        return self.runs[-1]

    def start(self) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}
        env["WAKEFUL_TELEGRAM_TOKEN"] = self.bot_api.token
        log = open(self.tmp / f"run-{len(self.runs) + 1}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "wakeful", "run", "--config", str(self.config)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group, like a service under systemd
        )
        log.close()
        self.runs.append(proc)
        return proc

    def output(self, run: int = -1) -> str:
        index = run if run >= 0 else len(self.runs) + run
        return (self.tmp / f"run-{index + 1}.log").read_text()

    def kill(self) -> None:
        self.current.kill()
        self.current.wait(timeout=10)

    def terminate_group(self) -> None:
        """What systemd's KillMode=control-group does: SIGTERM to every process of the
        service, the brains (in their own sessions) included."""
        for pid in [self.current.pid, *descendants(self.current.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.current.wait(timeout=timeout)

    def stop(self) -> None:
        """Cleanup: whatever still runs goes, brains included."""
        for proc in self.runs:
            if proc.poll() is None:
                for pid in [proc.pid, *descendants(proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def brain_runs(self) -> list[BrainRun]:
        if not self.prompts.exists():
            return []
        return [BrainRun(**json.loads(line)) for line in self.prompts.read_text().splitlines()]

    def brain_pids(self) -> list[int]:
        if not self.brain_log.exists():
            return []
        return sorted({int(line.split()[2]) for line in self.brain_log.read_text().splitlines()
                       if line.startswith("start")})


def alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in (b"Z", b"X")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[-1].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# For storms about wakeful's own bookkeeping against a server that enforces no limits:
# Telegram's 30 messages a second would make a 2,000-chat storm minutes of waiting.
UNTHROTTLED = DeliveryConfig(per_bot_per_second=100_000, per_chat_per_second=1_000,
                             per_group_per_minute=100_000)


def in_process_service(tmp: Path, allowed: list[int], idle_after: float = 300.0,
                       delivery: DeliveryConfig | None = None,
                       **brain: object) -> tuple[BotApiCore, Service]:
    """The real service on the in-process Bot API transport: for storms about wakeful's
    own bookkeeping at a size where loopback HTTP would be most of the cost. Started;
    the caller stops it."""
    token = random_token()
    core = BotApiCore(token)
    api = BotApi(core, SimpleNamespace(base_url=IN_PROCESS_URL), token, tmp)  # type: ignore[arg-type]
    config = api.config(allowed, **brain)  # type: ignore[arg-type]
    config = replace(config, telegram=replace(config.telegram, poll_timeout=1.0),
                     chats=replace(config.chats, idle_after=idle_after),
                     delivery=delivery or config.delivery)
    svc = Service(config, request=InProcessRequest(core, read_timeout=10.0),
                  get_updates_request=InProcessRequest(core, read_timeout=10.0))
    svc.start()
    return core, svc
