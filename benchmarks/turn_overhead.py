"""What does wakeful add to a brain turn, and what does HTTP add to the gateway?

Three figures, each against a baseline run in this same process:

1. **turn overhead** — one chat, messages one after another, stand-in brain with no
   delay: message-in to reply-out through the whole service (in-process Bot API, so
   HTTP is not counted) versus running the same stand-in with `subprocess.run`.
2. **transport** — the same workload over real HTTP on 127.0.0.1 versus in-process.
3. **real CLI** (if installed) — one chat through the service with the real Claude Code
   CLI against the local fake Messages API, versus the CLI run directly.

    python benchmarks/turn_overhead.py [--turns 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

# Brain turns run in fork-server children, and multiprocessing imports the parent's
# __main__ (this file) in each of them: heavy imports at the top would be paid per
# turn and counted as wakeful's overhead (a `wakeful run` main module is tiny). Brain
# children import this file as __mp_main__, so they skip this block.
if __name__ == "__main__" or TYPE_CHECKING:
    from wakeful.brain import standin
    from wakeful.config import BrainConfig, Config, Secret, TelegramConfig
    from wakeful.demo.claude import ClaudeNotFound, fake_api, find_claude, offline_brain
    from wakeful.service import Service
    from wakeful.testing.bot_api import (
        BotApiCore,
        InProcessRequest,
        LocalBotApiServer,
        random_token,
    )
    from wakeful.testing.fake_anthropic import claude_env

CHAT = 1_000_001


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(name: str, seconds: list[float]) -> float:
    median = statistics.median(seconds)
    print(f"  {name:44} median {median * 1000:8.1f} ms   p99 {_p(seconds, 0.99) * 1000:8.1f} ms"
          f"   (n={len(seconds)})")
    return median


def through_service(turns: int, http: bool,
                    brain: Callable[[BrainConfig], BrainConfig] = lambda b: b) -> list[float]:
    """Inject a message, wait for its reply, repeat: end-to-end seconds per message."""
    token = random_token()
    core = BotApiCore(token)
    server_cm: AbstractContextManager[LocalBotApiServer | None] = (
        LocalBotApiServer(core) if http else nullcontext())
    with server_cm as server:
        base_url = server.base_url if server else "http://127.0.0.1:9/bot"
        config = Config(
            telegram=TelegramConfig(base_url=base_url, poll_timeout=5.0,
                                    allowed_user_ids=(CHAT,), flood_messages=0),
            brain=brain(BrainConfig(command=standin.command(0.0))),
            token=Secret(token),
        )
        kwargs = {} if http else {"request": InProcessRequest(core),
                                  "get_updates_request": InProcessRequest(core, 10.0)}
        service = Service(config, **kwargs)  # type: ignore[arg-type]
        service.start()
        try:
            times = []
            for n in range(turns):
                start = time.monotonic()
                core.inject_text(CHAT, f"turn {n}", user_id=CHAT)
                core.wait_for(lambda c, n=n: sum(
                    1 for r in c.sent(CHAT) if r.kind == "message" and r.reply_to_message_id
                ) > n, timeout=60)
                times.append(time.monotonic() - start)
            return times
        finally:
            service.stop()


def direct(argv: list[str], turns: int, env: dict[str, str] | None = None,
           cwd: str | None = None) -> list[float]:
    times = []
    for n in range(turns):
        start = time.monotonic()
        subprocess.run(argv, input=f"turn {n}", capture_output=True, text=True, check=True,
                       env=env, cwd=cwd)
        times.append(time.monotonic() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=30)
    turns = parser.parse_args().turns

    print("1. turn overhead (stand-in brain, no delay, one chat, sequential)")
    base = _row("baseline: subprocess.run(stand-in)", direct(list(standin.command(0.0)), turns))
    inproc = _row("wakeful, in-process Bot API", through_service(turns, http=False))
    print(f"  -> wakeful adds {(inproc - base) * 1000:.1f} ms per turn "
          f"({inproc / base:.2f}x the bare process)\n")

    print("2. transport")
    http = _row("wakeful, real HTTP on 127.0.0.1", through_service(turns, http=True))
    print(f"  -> HTTP adds {(http - inproc) * 1000:.1f} ms per message "
          f"({http / inproc:.2f}x in-process)\n")

    print("3. real Claude Code CLI against the local fake Messages API")
    try:
        claude = find_claude()
    except ClaudeNotFound as exc:
        print(f"  skipped: {exc}")
        return
    real_turns = max(5, turns // 3)
    with fake_api() as api, tempfile.TemporaryDirectory() as home:
        argv = [claude, "-p", "--output-format", "stream-json", "--verbose"]
        Path(home, "direct").mkdir()
        cli = _row("baseline: the CLI run directly",
                   direct(argv, real_turns, env=claude_env(api.base_url, home),
                          cwd=str(Path(home, "direct"))))
        ours = _row("wakeful + CLI, in-process Bot API", through_service(
            real_turns, http=False,
            brain=lambda b: replace(offline_brain(b, claude, api.base_url, Path(home)))))
    print(f"  -> wakeful adds {(ours - cli) * 1000:.1f} ms per turn ({ours / cli:.2f}x)")


if __name__ == "__main__":
    main()
