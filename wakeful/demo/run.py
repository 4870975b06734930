"""`wakeful demo`: `wakeful run` plus a local Bot API server and simulated users.

The service is built exactly as `wakeful run` builds it, from a Config; only the
Bot API base URL points at a server on 127.0.0.1 and the brain is the stand-in, or
with `--brain claude` the real Claude Code CLI talking to a fake Messages API on
127.0.0.1 with a throwaway HOME (wakeful/demo/claude.py).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from wakeful.brain import standin
from wakeful.config import (
    BrainConfig,
    ChatsConfig,
    Config,
    Secret,
    TelegramConfig,
    WatchdogConfig,
)
from wakeful.demo.claude import fake_api, find_claude, offline_brain
from wakeful.demo.report import Report, measure, peak_concurrency
from wakeful.demo.users import SimulatedUsers
from wakeful.service import Service
from wakeful.state.journal import JournalConfig
from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token


@dataclass(frozen=True)
class DemoOptions:
    chats: int = 20
    messages: int = 3
    gap: float = 0.3
    brain_delay: float = 0.5
    cap: int = 4
    timeout: float = 300.0
    brain_command: tuple[str, ...] | None = None
    brain: str = "standin"  # or "claude": the real CLI against a local fake API
    # What users feel first: the demo fails when the 99th percentile 👀 comes later.
    ack_p99_max: float = 3.0


@dataclass(frozen=True)
class DemoResult:
    report: Report
    peak_brains_measured: int
    peak_brains_pool: int
    elapsed: float
    ack_p99_max: float = 3.0

    @property
    def ack_too_slow(self) -> bool:
        return not self.report.ack_p99() <= self.ack_p99_max  # NaN (no 👀 at all) too

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.ack_too_slow


def demo_config(base_url: str, token: str, chat_ids: list[int], options: DemoOptions,
                standin_log: Path, journal: Path) -> Config:
    command = options.brain_command or standin.command(options.brain_delay)
    return Config(
        # No flood limit: --messages may ask for bursts bigger than a person's.
        telegram=TelegramConfig(base_url=base_url, poll_timeout=10.0,
                                allowed_user_ids=tuple(chat_ids), flood_messages=0),
        brain=BrainConfig(command=command, max_concurrent=options.cap,
                          env={"WAKEFUL_STANDIN_LOG": str(standin_log)}, turn_budget=120.0),
        watchdog=WatchdogConfig(heartbeat_interval=1.0, stale_after=15.0),
        # A demo keeps nothing: its journal lives and dies with its temporary directory.
        journal=JournalConfig(path=str(journal), synchronous="normal"),
        # The report counts one reply per message: each message gets its own turn.
        chats=ChatsConfig(mode="queue"),
        token=Secret(token),
    )


def run_demo(options: DemoOptions, out: Callable[[str], None] = print) -> DemoResult:
    token = random_token()
    core = BotApiCore(token)
    chat_ids = [100_001 + i for i in range(options.chats)]
    claude = find_claude() if options.brain == "claude" else None
    with tempfile.TemporaryDirectory(prefix="wakeful-demo-") as tmp, \
            LocalBotApiServer(core) as server, \
            (fake_api(options.brain_delay) if claude else contextlib.nullcontext()) as api:
        standin_log = Path(tmp) / "brains.log"
        config = demo_config(server.base_url, token, chat_ids, options, standin_log,
                             Path(tmp) / "journal.sqlite3")
        brain = f"stand-in brain {options.brain_delay}s"
        if claude and api:
            config = replace(config, brain=offline_brain(config.brain, claude, api.base_url,
                                                         Path(tmp) / "home"))
            brain = f"Claude Code CLI + fake Messages API at {api.base_url}"
        service = Service(config)
        service.start()
        try:
            out(f"local Bot API at {server.url}; {options.chats} chats x {options.messages} "
                f"messages; {brain}; cap {options.cap}")
            started = time.monotonic()
            users = SimulatedUsers(core, chat_ids, options.messages, options.gap).start()
            _progress(core, users, service, started, options.timeout, out)
            users.join(timeout=5)
            elapsed = time.monotonic() - started
            report = measure(core, users.sent())
            pool = service.ask("brain_pool")
        finally:
            service.stop()
        # Measured where brains run: the stand-in logs itself; real CLIs are counted by
        # the requests they have open at the fake API.
        measured = api.peak_in_flight if api else peak_concurrency(standin_log)
        return DemoResult(report, measured, pool["peak_running"], elapsed, options.ack_p99_max)


def _progress(core: BotApiCore, users: SimulatedUsers, service: Service, started: float,
              timeout: float, out: Callable[[str], None]) -> None:
    def answered(c: BotApiCore) -> int:
        return sum(1 for chat in c.chats() for r in c.sent(chat)
                   if r.kind == "message" and r.reply_to_message_id is not None)

    while time.monotonic() - started < timeout:
        done = core.wait_for(lambda c: answered(c) >= users.total, timeout=1.0)
        sent = users.sent()
        acks = sum(1 for chat in core.chats() for r in core.sent(chat) if r.kind == "reaction")
        running = len(service.ask("brain_pool")["running"])
        out(f"[{time.monotonic() - started:5.1f}s] sent {len(sent):3d}/{users.total}  "
            f"👀 {acks:3d}  answered {answered(core):3d}  brains running {running}")
        if done:
            return
    out(f"timed out after {timeout:.0f}s")


def print_summary(result: DemoResult, out: Callable[[str], None] = print) -> None:
    r = result.report
    out("")
    out("summary")
    out(f"  messages sent        {r.messages}")
    out(f"  acknowledged (👀)    {r.acked}")
    out(f"  answered             {r.answered}")
    out(f"  replies in order     {'yes' if r.in_order else 'NO'}")
    out(f"  👀 before answer     {r.acked_before_answer}/{r.answered}")
    out(f"  👀 latency           median {r.ack_median() * 1000:.1f} ms, "
        f"p99 {r.ack_p99() * 1000:.1f} ms, max {r.ack_max() * 1000:.1f} ms "
        f"(p99 bound {result.ack_p99_max:g} s)")
    by_method = ", ".join(f"{method} {count / r.messages:.2f}" for method, count
                          in sorted(r.calls.items(), key=lambda kv: -kv[1])) if r.messages else ""
    out(f"  Telegram calls       {r.calls_per_message():.2f} per message ({by_method})")
    out(f"  peak brains at once  {result.peak_brains_measured} measured at the brain, "
        f"{result.peak_brains_pool} seen by the pool")
    out(f"  elapsed              {result.elapsed:.1f} s")
    for problem in r.problems[:10]:
        out(f"  problem: {problem}")
    if result.ack_too_slow:
        out(f"  problem: 👀 p99 {r.ack_p99():.2f} s is over the bound of "
            f"{result.ack_p99_max:g} s (--ack-p99-max)")
    out("  result               " + ("OK: every message answered, in order" if result.ok
                                     else "FAILED"))
