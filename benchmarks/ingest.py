"""What the way in costs: updates/s through poller -> admission -> journal -> chat actors.

Three measurements, each against the real service on the in-process Bot API transport
(the point is wakeful's bookkeeping, not loopback HTTP), side by side in one run:

* **ingest** — 1,000 chats x 10 messages queued at once, fetched in batches of 100:
  updates/s from the first fetch until every message has its 👀, with the journal on
  disk (synchronous FULL, the default; and NORMAL) and in memory (`:memory:` SQLite:
  the same code with no disk, standing in for the old in-memory ledger). Brains are
  kept out of it: one slot, held by a brain that sleeps.
  Beside it, what one state request (`wakeful state`: the dump built, as JSON and as
  the tree) costs on the idle service and then with every chat holding work.
* **strangers** — 20,000 distinct strangers, `wakeful run` as its own process over
  loopback HTTP: seconds per refused update, the service's RSS and threads before and
  after.
* **chats at rest** — 10,000 chats with one message each, `wakeful run` as its own
  process: its threads and RSS before, at the peak, and once every chat is passivated;
  past `--resting-deadline`, how many were answered by the brain and how many got a
  failure note, and how often its supervisors restarted something.

    python benchmarks/ingest.py [--chats 1000] [--per-chat 10] [--strangers 20000]
                                [--resting 10000] [--resting-deadline 1200]
                                                       (0 skips a part)

Nothing here asserts; it prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Brain turns run in fork-server children, which import this file as __mp_main__:
# heavy imports stay out of module level (see docs/benchmarks.md).
if __name__ == "__main__" or TYPE_CHECKING:
    from wakeful.config import (
        BrainConfig,
        ChatsConfig,
        Config,
        Secret,
        ServiceConfig,
        TelegramConfig,
        WatchdogConfig,
    )
    from wakeful.control.document import build
    from wakeful.control.render import render_text
    from wakeful.service import Service
    from wakeful.state.journal import JournalConfig
    from wakeful.testing.bot_api import (
        BotApiCore,
        InProcessRequest,
        LocalBotApiServer,
        random_token,
    )

STRANGER_CHUNK = 1000
# `wakeful run` first checks that `<brain> --version` answers (as the CLI does): with
# `sh -c SCRIPT --version`, the script sees it as $0.
_VERSION = '[ "$0" = --version ] && exec echo "benchmark brain"; '
SLEEPER = ("/bin/sh", "-c", _VERSION + "cat >/dev/null; exec sleep 3600")
# The brain speaks the CLI's stream-json session protocol: its stdin stays open while
# its turn runs (follow-ups may come), so a brain that reads to EOF before answering
# never answers. QUICK answers after the first line, as soon as the turn is given.
QUICK = ("/bin/sh", "-c", _VERSION + "read -r _; " + "; ".join(
    "printf '%s\\n' " + shlex.quote(json.dumps(event)) for event in (
        {"type": "system", "subtype": "init", "session_id": "s"},
        {"type": "result", "subtype": "success", "is_error": False, "result": "ok",
         "session_id": "s"})))


def config(chats: list[int], journal: str, synchronous: str, brain: tuple[str, ...],
           cap: int, idle_after: float = 300.0) -> Config:
    return Config(
        # No flood limit: the load is the point.
        telegram=TelegramConfig(base_url="http://in-process/bot", poll_timeout=1.0,
                                allowed_user_ids=tuple(chats), flood_messages=0),
        brain=BrainConfig(command=brain, max_concurrent=cap, turn_budget=3600.0,
                          first_event_timeout=3600.0, idle_timeout=3600.0),
        watchdog=WatchdogConfig(heartbeat_interval=1.0, stale_after=60.0),
        journal=JournalConfig(path=journal, synchronous=synchronous),
        # One turn per message, as every figure in docs/performance.md was measured
        # (steer and collect would fold a chat's burst into fewer turns).
        chats=ChatsConfig(idle_after=idle_after, mode="queue"),
        service=ServiceConfig(shutdown_grace=0.0),
        token=Secret("x"),
    )


def start(core: BotApiCore, cfg: Config) -> Service:
    cfg = replace(cfg, token=Secret(core_token(core)))
    svc = Service(cfg, request=InProcessRequest(core, read_timeout=10.0),
                  get_updates_request=InProcessRequest(core, read_timeout=10.0))
    svc.start()
    return svc


_TOKENS: dict[int, str] = {}


def new_core() -> BotApiCore:
    token = random_token()
    core = BotApiCore(token)
    _TOKENS[id(core)] = token
    return core


def core_token(core: BotApiCore) -> str:
    return _TOKENS[id(core)]


def _ms(seconds: list[float]) -> dict[str, float]:
    """Median and max (of a sorted list), in ms."""
    return {"median": round(seconds[len(seconds) // 2] * 1000, 1),
            "max": round(seconds[-1] * 1000, 1)} if seconds else {}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def acked(core: BotApiCore, chats: list[int], per_chat: int) -> int:
    return sum(sum(1 for r in core.sent(c) if r.kind == "reaction") for c in chats)


def state_requests(svc: Service, count: int) -> list[float]:
    """Seconds per state request as `wakeful state` makes it: every actor asked, the
    document built, serialized for the socket and rendered as the tree."""
    took = []
    for _ in range(count):
        started = time.perf_counter()
        doc = build(svc.state())
        json.dumps({"ok": True, "state": doc})
        render_text(doc)
        took.append(time.perf_counter() - started)
    return sorted(took)


def ingest(label: str, journal: str, synchronous: str, chats: int, per_chat: int,
           state_count: int) -> dict[str, Any]:
    """Updates/s until every update is committed and routed to its chat actor (the way
    in), and until every 👀 went out (the way in plus the first call of the way out);
    and what a state request costs before the storm and with every chat holding work."""
    core = new_core()
    ids = [3_000_000 + n for n in range(chats)]
    svc = start(core, config(ids, journal, synchronous, SLEEPER, cap=1))
    try:
        idle = state_requests(svc, state_count)
        for n in range(per_chat):
            for chat in ids:
                core.inject_text(chat, f"message {n}", user_id=chat)
        total = chats * per_chat
        started = time.perf_counter()
        core.wait_for(lambda c: c.pending_update_ids() == [], timeout=600)
        svc.ask("poller")  # barrier: its last batch is committed and routed...
        svc.ask("chats")  # ...and forwarded to the chat actors
        routed = time.perf_counter() - started
        core.wait_for(lambda c: acked(c, ids, per_chat) >= total, timeout=600)
        eyes = time.perf_counter() - started
        # Every update was queued before the clock started: a 👀's latency is its wait
        # in the backlog plus its own way through, measured at the fake Telegram.
        origin = time.monotonic() - (time.perf_counter() - started)
        waits = sorted(r.at_monotonic - origin for c in ids for r in core.sent(c)
                       if r.kind == "reaction")
        busy = state_requests(svc, state_count)
        return {"path": label, "updates": total, "routed_s": round(routed, 2),
                "routed_per_s": round(total / routed), "eyes_s": round(eyes, 2),
                "eyes_per_s": round(total / eyes),
                "eyes_p50_s": round(waits[len(waits) // 2], 2),
                "eyes_p99_s": round(waits[int(len(waits) * 0.99) - 1], 2),
                # This process holds the fake Telegram too: its RSS is not the service's
                # alone (`chats at rest` measures a service process by itself).
                "threads_at_peak": threading.active_count(), "rss_mb": _rss_mb(),
                "state_idle_ms": _ms(idle), "state_busy_ms": _ms(busy)}
    finally:
        svc.stop(grace=0)


class ServiceProcess:
    """`wakeful run` as its own process against a local Bot API server in this one, so
    that RSS and threads are the service's alone (the fake Telegram keeps every message
    it was sent, and would be counted otherwise)."""

    def __init__(self, server: LocalBotApiServer, token: str, chats: list[int], journal: str,
                 brain: tuple[str, ...], cap: int, idle_after: float) -> None:
        self._dir = tempfile.mkdtemp(prefix="wakeful-bench-run-")
        config = Path(self._dir) / "wakeful.toml"
        config.write_text(
            f'[telegram]\nbase_url = "{server.base_url}"\npoll_timeout = 2\n'
            f"allowed_user_ids = {json.dumps(chats)}\n\n"
            f"[brain]\ncommand = {json.dumps(list(brain))}\nmax_concurrent = {cap}\n\n"
            f'[journal]\npath = "{journal}"\n\n[chats]\nidle_after = {idle_after}\n\n'
            "[service]\nshutdown_grace = 0\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wakeful", "--log-level", "WARNING", "run", "--config",
             str(config)], env={**env, "WAKEFUL_TELEGRAM_TOKEN": token},
            stdout=subprocess.DEVNULL, stderr=(Path(self._dir) / "service.log").open("w"))

    def wait(self, core: BotApiCore, predicate: Any, timeout: float) -> bool:
        """`core.wait_for`, except that a service which exited ends the wait with its log
        (a benchmark that waits silently on a dead service measures nothing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if core.wait_for(predicate, timeout=min(1.0, deadline - time.monotonic())):
                return True
            if self.proc.poll() is not None:
                log = (Path(self._dir) / "service.log").read_text()[-2000:]
                raise RuntimeError(f"wakeful run exited ({self.proc.returncode}):\n{log}")
        return False

    def status(self) -> dict[str, float]:
        """RSS (MB) and threads of the service process."""
        found: dict[str, float] = {}
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key == "VmRSS":
                    found["rss_mb"] = round(int(value.split()[0]) / 1024, 1)
                elif key == "Threads":
                    found["threads"] = int(value)
        return found

    def restarts(self) -> dict[str, int]:
        """How often the service's supervisors restarted a child, and abandoned a wedged
        one, from its warnings (a saturated service shows up here first)."""
        log = (Path(self._dir) / "service.log").read_text()
        return {"restarts": log.count("restarting "), "abandoned_wedged": log.count(
            "abandoned wedged ")}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def strangers(count: int, journal: str) -> dict[str, Any]:
    """Seconds per refused update, and the service's RSS and threads, from before the
    flood (its own first chat answered) to after it."""
    token = random_token()
    core = BotApiCore(token)
    with LocalBotApiServer(core) as server:
        svc = ServiceProcess(server, token, [1], journal, SLEEPER, cap=1, idle_after=300.0)
        try:
            core.inject_text(1, "warm up", user_id=1)
            svc.wait(core, lambda c: any(r.kind == "reaction" for r in c.sent(1)), timeout=60)
            time.sleep(1.0)
            before = svc.status()
            started = time.perf_counter()
            rss: list[float] = []
            for start in range(0, count, STRANGER_CHUNK):
                for user in range(start, min(count, start + STRANGER_CHUNK)):
                    core.inject_text(5_000_000 + user, "let me in", user_id=5_000_000 + user)
                done = min(count, start + STRANGER_CHUNK)
                svc.wait(core, lambda c, n=done: c.call_counts().get("sendMessage", 0) >= n,
                         timeout=1200)
                rss.append(svc.status()["rss_mb"])
            elapsed = time.perf_counter() - started
            after = svc.status()
            # The first chunk sets the allocator's high-water mark (a burst of concurrent
            # refusal sends); flat memory means nothing grows after it.
            growth = (rss[-1] - rss[0]) / max(1, len(rss) - 1) * 1000 / STRANGER_CHUNK
            return {"strangers": count, "seconds": round(elapsed, 1),
                    "us_per_stranger": round(elapsed / count * 1e6),
                    "rss_mb_before": before["rss_mb"], "rss_mb_after_first_chunk": rss[0],
                    "rss_mb_after": after["rss_mb"],
                    "rss_kb_per_1000_after_first_chunk": round(growth * 1024),
                    "threads_before": before["threads"], "threads_after": after["threads"]}
        finally:
            svc.stop()


def resting(count: int, journal: str, deadline_s: float) -> dict[str, Any]:
    """Threads and RSS of the service for `count` chats with one message each: before,
    at the peak, and once every chat has been passivated. A service that has not
    answered everyone within `deadline_s` is reported as such (how many, and how often
    its supervisors restarted something), not waited on for ever."""
    token = random_token()
    core = BotApiCore(token)
    ids = [7_000_000 + n for n in range(count)]
    with LocalBotApiServer(core) as server:
        svc = ServiceProcess(server, token, ids, journal, QUICK, cap=8, idle_after=2.0)
        try:
            core.inject_text(ids[0], "warm up", user_id=ids[0])
            if not svc.wait(core, lambda c: _answer(c, ids[0]) is not None, timeout=60):
                raise RuntimeError("the warm-up message got no answer within 60 s")
            if _answer(core, ids[0]) != "ok":
                raise RuntimeError(f"the warm-up turn failed: {_answer(core, ids[0])!r}")
            time.sleep(3.0)  # its chat passivates: the baseline has no chat actor
            before = svc.status()
            peak = dict(before)
            started = time.perf_counter()
            for chat in ids[1:]:
                core.inject_text(chat, "hello", user_id=chat)

            def outcomes(c: BotApiCore) -> dict[str, int]:
                answers = [_answer(c, chat) for chat in ids]
                return {"answered_by_brain": answers.count("ok"),
                        "failure_notes": sum(1 for a in answers if a not in (None, "ok"))}

            give_up = time.monotonic() + deadline_s
            while not svc.wait(core, lambda c: all(_answer(c, chat) is not None for chat in ids),
                               timeout=1.0):
                now = svc.status()
                peak = {k: max(peak[k], now[k]) for k in peak}
                if time.monotonic() > give_up:
                    return {"chats": count, "deadline_s": deadline_s, **outcomes(core),
                            **svc.restarts(), "threads_peak": peak["threads"],
                            "rss_mb_peak": peak["rss_mb"]}
            elapsed = time.perf_counter() - started
            deadline = time.monotonic() + 120
            while svc.status()["threads"] > before["threads"] and time.monotonic() < deadline:
                time.sleep(0.5)
            after = svc.status()
            return {"chats": count, "seconds_to_answer_all": round(elapsed, 1), **outcomes(core),
                    **svc.restarts(),
                    "threads_before": before["threads"], "threads_peak": peak["threads"],
                    "threads_at_rest": after["threads"], "rss_mb_before": before["rss_mb"],
                    "rss_mb_peak": peak["rss_mb"], "rss_mb_at_rest": after["rss_mb"]}
        finally:
            svc.stop()


def _answer(core: BotApiCore, chat: int) -> str | None:
    """The text of the chat's first reply (the brain's "ok", or a failure note)."""
    return next((r.text or "" for r in core.sent(chat)
                 if r.kind == "message" and r.reply_to_message_id), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--strangers", type=int, default=20_000)
    parser.add_argument("--resting", type=int, default=10_000)
    parser.add_argument("--resting-deadline", type=float, default=1200.0,
                        help="seconds the chats at rest may take to be answered")
    parser.add_argument("--state-requests", type=int, default=20,
                        help="state requests timed before and after each ingest")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="wakeful-bench-") as tmp:
        rows = [] if not args.chats else [
            ingest("journal on disk, synchronous=FULL (default)",
                   str(Path(tmp) / "full.sqlite3"), "full", args.chats, args.per_chat,
                   args.state_requests),
            ingest("journal on disk, synchronous=NORMAL", str(Path(tmp) / "normal.sqlite3"),
                   "normal", args.chats, args.per_chat, args.state_requests),
            ingest("journal in memory (no disk)", ":memory:", "normal", args.chats,
                   args.per_chat, args.state_requests),
        ]
        if rows:
            print("\ningest (in-process transport, batches of 100): updates/s until committed"
                  " and routed to chat actors | until every 👀 went out")
        for row in rows:
            print(f"  {row['path']:<46} {row['updates']:>6} updates: {row['routed_per_s']:>6}/s "
                  f"({row['routed_s']:.2f} s) | {row['eyes_per_s']:>6}/s ({row['eyes_s']:.2f} s)"
                  f" | 👀 p50 {row['eyes_p50_s']:.2f} s, p99 {row['eyes_p99_s']:.2f} s | "
                  f"{row['threads_at_peak']} threads, {row['rss_mb']} MB (with the fake)")
        if rows and args.state_requests:
            print(f"\none state request (n={args.state_requests} each): median / max, idle "
                  f"service -> {args.chats} chats holding work")
            for row in rows:
                idle, busy = row["state_idle_ms"], row["state_busy_ms"]
                print(f"  {row['path']:<46} {idle['median']} / {idle['max']} ms -> "
                      f"{busy['median']} / {busy['max']} ms "
                      f"({busy['median'] / max(idle['median'], 0.1):.1f}x the idle median)")
        if args.strangers:
            print("\nstrangers:", json.dumps(strangers(args.strangers,
                                                       str(Path(tmp) / "strangers.sqlite3"))))
        if args.resting:
            print("\nchats at rest:", json.dumps(resting(
                args.resting, str(Path(tmp) / "resting.sqlite3"), args.resting_deadline)))
    print(f"\nmachine: {os.cpu_count()} cores; measured {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
