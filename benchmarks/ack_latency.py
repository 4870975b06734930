"""How fast does a user see 👀, and how long until everyone is answered?

Runs the same workload, in this process, against the same local Bot API server (real
HTTP on 127.0.0.1) twice:

* **baseline** — the seeds' "before": one loop that polls, then for each message
  reacts, runs the brain synchronously, replies. This is the bot that goes deaf.
* **wakeful** — the real service (`wakeful.service.Service`), same brain, cap N.

and prints 👀 latency (median / p99 / max), time until every message is answered, and
the ratios. Nothing here asserts; it measures.

    python benchmarks/ack_latency.py [--chats 10] [--messages 3] [--brain-delay 1.0] [--cap 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Brain turns run in fork-server children, and multiprocessing imports the parent's
# __main__ (this file) in each of them: heavy imports at the top would be paid per
# turn and counted as wakeful's overhead (a `wakeful run` main module is tiny). Brain
# children import this file as __mp_main__, so they skip this block.
if __name__ == "__main__" or TYPE_CHECKING:
    from telegram import Bot, ReactionTypeEmoji, ReplyParameters
    from telegram.request import HTTPXRequest

    from wakeful.brain.standin import command as standin
    from wakeful.config import BrainConfig, ChatsConfig, Config, Secret, TelegramConfig
    from wakeful.demo.report import Report, measure
    from wakeful.demo.users import SimulatedUsers
    from wakeful.service import Service
    from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token



@dataclass(frozen=True)
class Figures:
    name: str
    report: Report
    all_answered_after: float

    def p99(self) -> float:
        latencies = sorted(self.report.ack_latencies)
        return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def _answered(core: BotApiCore, total: int) -> bool:
    return sum(1 for chat in core.chats() for r in core.sent(chat)
               if r.kind == "message" and r.reply_to_message_id) >= total


def run_baseline(chats: int, messages: int, delay: float, gap: float) -> Figures:
    """The single-loop bot: every message waits for every brain call before it."""
    token = random_token()
    core = BotApiCore(token)
    stop = threading.Event()
    with LocalBotApiServer(core) as server:

        async def loop() -> None:
            bot = Bot(token, base_url=server.base_url,
                      get_updates_request=HTTPXRequest(read_timeout=5))
            async with bot:
                offset = None
                while not stop.is_set():
                    updates = await bot.get_updates(offset=offset, timeout=1)
                    for update in updates:
                        offset = update.update_id + 1
                        msg = update.message
                        if msg is None or msg.text is None:
                            continue
                        await bot.set_message_reaction(msg.chat_id, msg.message_id,
                                                       [ReactionTypeEmoji("👀")])
                        answer = subprocess.run([*standin(delay)], input=msg.text,
                                                capture_output=True, text=True).stdout
                        text = answer.split('"result": "', 1)[1].split('"', 1)[0]
                        await bot.send_message(msg.chat_id, text,
                                               reply_parameters=ReplyParameters(msg.message_id))

        thread = threading.Thread(target=asyncio.run, args=(loop(),), daemon=True)
        thread.start()
        started = time.monotonic()
        users = SimulatedUsers(core, [900_000 + i for i in range(chats)], messages, gap).start()
        core.wait_for(lambda c: _answered(c, users.total), timeout=chats * messages * delay * 3)
        elapsed = time.monotonic() - started
        stop.set()
        thread.join(timeout=10)
        return Figures("baseline (one loop)", measure(core, users.sent()), elapsed)


def run_wakeful(chats: int, messages: int, delay: float, gap: float, cap: int) -> Figures:
    token = random_token()
    core = BotApiCore(token)
    ids = [900_000 + i for i in range(chats)]
    with LocalBotApiServer(core) as server:
        config = Config(
            telegram=TelegramConfig(base_url=server.base_url, poll_timeout=5.0,
                                    allowed_user_ids=tuple(ids), flood_messages=0),
            brain=BrainConfig(command=standin(delay), max_concurrent=cap),
            # One answer per message: the comparison counts answers (steer folds some in).
            chats=ChatsConfig(mode="queue"),
            token=Secret(token),
        )
        service = Service(config)
        service.start()
        try:
            started = time.monotonic()
            users = SimulatedUsers(core, ids, messages, gap).start()
            core.wait_for(lambda c: _answered(c, users.total),
                          timeout=chats * messages * delay * 3)
            elapsed = time.monotonic() - started
        finally:
            service.stop()
        return Figures(f"wakeful (cap {cap})", measure(core, users.sent()), elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--brain-delay", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=0.2)
    parser.add_argument("--cap", type=int, default=4)
    args = parser.parse_args()

    print(f"workload: {args.chats} chats x {args.messages} messages, stand-in brain "
          f"{args.brain_delay}s, rounds {args.gap}s apart, real HTTP on 127.0.0.1\n")
    results = [
        run_baseline(args.chats, args.messages, args.brain_delay, args.gap),
        run_wakeful(args.chats, args.messages, args.brain_delay, args.gap, args.cap),
    ]
    print(f"{'':22} {'👀 median':>11} {'👀 p99':>10} {'👀 max':>10} {'all answered':>13} "
          f"{'answered':>9} {'in order':>9}")
    for f in results:
        r = f.report
        print(f"{f.name:22} {statistics.median(r.ack_latencies) * 1000:9.1f}ms "
              f"{f.p99() * 1000:8.1f}ms {max(r.ack_latencies) * 1000:8.1f}ms "
              f"{f.all_answered_after:12.1f}s {r.answered:5d}/{r.messages:<3d} "
              f"{'yes' if r.in_order else 'NO':>9}")
    base, ours = results
    median_ratio = (statistics.median(base.report.ack_latencies)
                    / statistics.median(ours.report.ack_latencies))
    print(f"\nratio baseline/wakeful: 👀 median {median_ratio:.0f}x, "
          f"👀 p99 {base.p99() / ours.p99():.0f}x, "
          f"all answered {base.all_answered_after / ours.all_answered_after:.1f}x")


if __name__ == "__main__":
    main()
