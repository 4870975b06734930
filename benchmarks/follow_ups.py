"""How soon does a message sent while Claude works reach the model, in each queue mode?

The real Claude Code CLI, offline against the local fake Messages API, through the
whole service (Telegram in over real HTTP on 127.0.0.1, the chat, the pool, the brain).
Times are taken where they happen: the message's injection at the local Bot API, and
the arrival of each `/v1/messages` request at the fake API (same monotonic clock).

1. **follow-up → model, per mode** — the first message makes the model call Bash for
   `TOOL_SECONDS`; `FOLLOW_UP_AFTER` seconds after the tool process starts, a second
   message is sent. Measured: its injection to the first model request that contains
   its text. Expected: steer ≈ the tool's remaining time (it lands at the next tool
   boundary), interrupt ≈ at once (the tool is killed, the same process goes on),
   collect/queue ≈ the first turn's end (the next turn goes into the same, warm process).
2. **cold vs warm** — a message in an idle chat to the model's first request, (a) cold:
   a service with `keep_warm = 0` starts a new CLI process (`-p`, resuming the chat's
   session) for every turn, versus (b) warm: the chat's CLI process from the last turn
   is still waiting on stdin and takes the message as its next turn, and (c) written
   into a running CLI process (interrupt mode, from part 1). Also the 👌 delay:
   injection to the "taken" reaction at the Bot API (the CLI echoed the message back).

    python benchmarks/follow_ups.py [--runs 5] [--cold 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Turn children are forked from a server that imports this file as __mp_main__:
# heavy imports only when run as a script (see turn_overhead.py).
if __name__ == "__main__" or TYPE_CHECKING:
    from wakeful.chat_policy import ChatOverride
    from wakeful.config import (
        BrainConfig,
        ChatsConfig,
        Config,
        Secret,
        ServiceConfig,
        TelegramConfig,
    )
    from wakeful.demo.claude import ClaudeNotFound, find_claude, offline_brain
    from wakeful.service import Service
    from wakeful.state.journal import JournalConfig
    from wakeful.testing.bot_api import BotApiCore, LocalBotApiServer, random_token
    from wakeful.testing.fake_anthropic import EchoPrompt, FakeAnthropicApi, Script, UseTool

MODES = ("steer", "interrupt", "collect", "queue")
TOOL_SECONDS = 3.0
FOLLOW_UP_AFTER = 0.5
TAKEN = "👌"
SEEN = "👀"
FIRST_CHAT = 2_000_001
TIMEOUT = 60.0
# Texts are found in request bodies by substring, and a resumed session's requests
# carry every earlier message: each text must be unique and no prefix of another.
_cold_ids = itertools.count(1)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tail(values: list[float]) -> tuple[str, float]:
    """p99, or the max when there are too few runs for a p99 to mean anything."""
    return ("p99", _p(values, 0.99)) if len(values) >= 20 else ("max", max(values))


def _wait(what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT,
          step: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(step)


@dataclass
class Sample:
    to_model: float  # injection -> first model request with the text
    after_tool: float | None  # the tool's result reaching the model -> that request
    taken: float | None  # injection -> 👌 at the Bot API (steer, interrupt)


class Rig:
    """One service (real CLI, real HTTP) whose chats each have the queue mode asked for."""

    def __init__(self, claude: str, root: Path, chats: dict[int, str],
                 keep_warm: float = 120.0) -> None:
        root.mkdir()
        self.api = FakeAnthropicApi(Script(default=EchoPrompt()))
        self.api.start()
        token = random_token()
        self.core = BotApiCore(token)
        self.server = LocalBotApiServer(self.core)
        self.server.__enter__()
        brain = offline_brain(
            BrainConfig(allowed_tools=("Bash",), permission_mode="dontAsk", max_concurrent=4,
                        keep_warm=keep_warm),
            claude, self.api.base_url, root / "home")
        config = Config(
            telegram=TelegramConfig(base_url=self.server.base_url, poll_timeout=5.0,
                                    allowed_user_ids=tuple(chats), flood_messages=0),
            brain=brain,
            journal=JournalConfig(path=str(root / "journal.sqlite3"), synchronous="normal"),
            service=ServiceConfig(shutdown_grace=5.0),
            chats=ChatsConfig(overrides={c: ChatOverride(mode=m) for c, m in chats.items()}),
            token=Secret(token),
        )
        self._seen: list[tuple[float, str]] = []
        self.service = Service(config)
        self.service.start()

    def close(self) -> None:
        try:
            self.service.stop(grace=0)
        finally:
            self.server.__exit__(None, None, None)
            self.api.stop()

    def say(self, chat: int, text: str) -> tuple[int, float]:
        """Inject `text`; its message id and the monotonic time just before."""
        at = time.monotonic()
        message_id = self.core.inject_text(chat, text, user_id=chat)["message"]["message_id"]
        return message_id, at

    def _bodies(self) -> list[tuple[float, str]]:
        """Each model request's arrival and body as text, serialised once (polled every
        few ms: re-serialising every request each time would load the machine)."""
        requests = self.api.message_requests
        for request in requests[len(self._seen):]:
            self._seen.append((request.time,
                               json.dumps(request.body or {}, ensure_ascii=False)))
        return self._seen

    def reached_model(self, text: str) -> float | None:
        """Arrival time of the first model request whose body contains `text`."""
        return next((at for at, body in self._bodies() if text in body), None)

    def tool_result_at(self, text: str) -> float | None:
        """Arrival of the first model request that carries a tool result in a
        conversation containing `text`."""
        return next((at for at, body in self._bodies()
                     if text in body and '"tool_result"' in body), None)

    def reaction_at(self, chat: int, message_id: int, emoji: str) -> float | None:
        for record in self.core.sent(chat):
            if (record.kind == "reaction" and record.message_id == message_id
                    and emoji in (record.reaction or ())):
                return record.at_monotonic
        return None

    def settle(self, chat: int, replies: int) -> None:
        """Wait until the chat got `replies` answers, owes nothing, and runs no brain."""
        def done() -> bool:
            answered = sum(1 for r in self.core.sent(chat)
                           if r.kind == "message" and r.reply_to_message_id is not None)
            return (answered >= replies and not self.service.journal.owed(chat)
                    and not any(r["chat"] == chat
                                for r in self.service.ask("brain_pool")["running"]))
        _wait(f"chat {chat} to settle", done, step=0.05)


def follow_up(rig: Rig, chat: int, mode: str, marks: Path) -> Sample:
    """One run of part 1 in `chat` (whose mode is `mode`)."""
    mark = marks / f"{chat}.started"
    script = (f"import time; open('{mark}', 'w').write(repr(time.monotonic())); "
              f"time.sleep({TOOL_SECONDS})")
    # The CLI refuses a long bare `sleep`; a python3 sleep is an ordinary command.
    rig.api.script.push(UseTool("Bash", {"command": f'python3 -c "{script}"',
                                         "description": "work for a while"}))
    first = f"first {chat}."
    rig.say(chat, first)
    _wait("the tool to start", lambda: mark.exists() and mark.read_text() != "")
    started = float(mark.read_text())
    time.sleep(max(0.0, started + FOLLOW_UP_AFTER - time.monotonic()))
    text = f"follow-up {chat} {mode}."
    message_id, sent = rig.say(chat, text)
    _wait(f"the {mode} follow-up to reach the model",
          lambda: rig.reached_model(text) is not None)
    reached = rig.reached_model(text)
    assert reached is not None
    # steer and interrupt answer both messages with one reply; collect and queue two.
    rig.settle(chat, 1 if mode in ("steer", "interrupt") else 2)
    taken = rig.reaction_at(chat, message_id, TAKEN)
    tool_done = rig.tool_result_at(first)
    return Sample(reached - sent, None if tool_done is None else reached - tool_done,
                  None if taken is None else taken - sent)


def idle_chat(rig: Rig, chat: int, turns: int) -> tuple[list[float], list[float]]:
    """Part 2 (a, b): a message in an idle chat, each a new turn (same session; a new CLI
    unless the rig keeps its process warm). Injection to the model's first request, and
    injection to its 👀 (the service has it)."""
    times, seen = [], []
    answered = len([r for r in rig.core.sent(chat)
                    if r.kind == "message" and r.reply_to_message_id is not None])
    for n in range(turns):
        text = f"cold {chat} #{next(_cold_ids)}."
        message_id, sent = rig.say(chat, text)

        def arrived(text: str = text) -> bool:
            return rig.reached_model(text) is not None

        _wait("the message to reach the model", arrived)
        reached = rig.reached_model(text)
        assert reached is not None
        times.append(reached - sent)
        rig.settle(chat, answered + n + 1)
        eyes = rig.reaction_at(chat, message_id, SEEN)
        if eyes is not None:
            seen.append(eyes - sent)
    return times, seen


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f} ms"


def _row(name: str, seconds: list[float], note: str = "") -> float:
    median = statistics.median(seconds)
    label, tail = _tail(seconds)
    print(f"  {name:40} median {_ms(median)}   {label} {_ms(tail)}   (n={len(seconds)})"
          f"{'   ' + note if note else ''}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="follow-ups per mode")
    parser.add_argument("--cold", type=int, default=10, help="cold turns for part 2")
    args = parser.parse_args()
    try:
        claude = find_claude()
    except ClaudeNotFound as exc:
        raise SystemExit(f"needs the real CLI: {exc}") from None

    chats = {FIRST_CHAT + i * len(MODES) + k: mode
             for i in range(args.runs) for k, mode in enumerate(MODES)}
    idle = FIRST_CHAT + args.runs * len(MODES)
    chats[idle] = "queue"
    samples: dict[str, list[Sample]] = {mode: [] for mode in MODES}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        marks = Path(tmp, "marks")
        marks.mkdir()
        rig = Rig(claude, Path(tmp, "warm"), chats)
        try:
            # Warm the fork server and the CLI's on-disk caches before anything counts.
            idle_chat(rig, idle, 1)
            # Modes interleaved, so a noisy neighbour on the machine hits all of them.
            for chat, mode in chats.items():
                if chat != idle:
                    samples[mode].append(follow_up(rig, chat, mode, marks))
            warm_times, warm_seen = idle_chat(rig, idle, args.cold)
            warm_starts = rig.service.ask("brain_pool")["warm_starts"]
        finally:
            rig.close()
        rig = Rig(claude, Path(tmp, "cold"), {idle: "queue"}, keep_warm=0.0)
        try:
            idle_chat(rig, idle, 1)
            cold_times, seen = idle_chat(rig, idle, args.cold)
        finally:
            rig.close()

    remaining = TOOL_SECONDS - FOLLOW_UP_AFTER
    print(f"1. follow-up -> model (real CLI; Bash runs {TOOL_SECONDS:g} s, the follow-up is "
          f"sent {FOLLOW_UP_AFTER:g} s into it,\n   so {remaining:g} s of the tool remain)")
    medians: dict[str, float] = {}
    for mode in MODES:
        times = [s.to_model for s in samples[mode]]
        medians[mode] = _row(mode, times, f"{statistics.median(times) / remaining:.2f}x the "
                             "tool's remaining time")
        after = [s.after_tool for s in samples[mode] if s.after_tool is not None]
        if after:
            _row("  of which after the tool's result", after)
    print()
    print("2. message -> model's first request: a new CLI process vs a waiting or running one")
    base = _row("cold: new turn, new CLI (-p)", cold_times, "keep_warm = 0")
    if seen:
        _row(f"  of which until {SEEN} (service has it)", seen)
    idle_warm = _row("warm: new turn, the CLI waiting", warm_times,
                     f"{warm_starts} warm starts")
    if warm_seen:
        _row(f"  of which until {SEEN} (service has it)", warm_seen)
    warm = medians["interrupt"]
    _row("running: interrupt into running CLI", [s.to_model for s in samples["interrupt"]])
    print(f"  -> a waiting CLI takes a new turn {base / idle_warm:.2f}x sooner "
          f"({(base - idle_warm) * 1000:.0f} ms less); into a running one "
          f"{base / warm:.2f}x ({(base - warm) * 1000:.0f} ms less)")
    for mode in ("steer", "interrupt"):
        taken: list[float] = [s.taken for s in samples[mode] if s.taken is not None]
        if taken:
            _row(f"{TAKEN} shown ({mode}): inject -> reaction", taken)
        else:
            print(f"  {TAKEN} shown ({mode}): never")
    print(f"\n  total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
