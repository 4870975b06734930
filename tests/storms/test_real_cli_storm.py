"""A storm through the real Claude Code CLI, with the Messages API failing on a seeded plan.

Sixteen chats write three messages each, all at once, over the local Bot API (real
PTB over HTTP); every turn is a real CLI process talking to the fake Messages API,
four at most. The seed picks, per message, what the API does to its requests: a 529
or two and a 500 or two (the CLI waits and asks again by itself), a slow answer, or,
for one or two messages, an overload that never ends (the CLI gives up, wakeful runs
it again, then tells the user). Afterwards, from what Telegram and the API saw: every
message has its 👀 and one answer, the echo or a clear failure note, in the chat's
order; never more than four brains ran; none is left; the API saw every prompt.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tests.brain import conftest as brain
from tests.brain.conftest import Bridge, assert_no_leftovers
from tests.storms import invariants
from wakeful.actors.replies import SORRY
from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import BotApiCore
from wakeful.testing.fake_anthropic import (
    EchoPrompt,
    ErrorStatus,
    FakeAnthropicApi,
    Overloaded,
    Script,
    Step,
)

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(90)]

# The real-CLI fixtures live beside the brain tests; storms use the same ones.
claude_bin = brain.claude_bin
anthropic = brain.anthropic
claude_bridge = brain.claude_bridge

CHATS = [660_000 + n for n in range(16)]
PER_CHAT = 3
CAP = 4
# Past this many 529s in a row the CLI (2.1.x, non-interactive) stops asking.
CLI_GIVES_UP_AFTER = 3
GIVES_UP = "gives up"
CALM = "calm"
FAULTS = ("overloaded", "server error", "slow")


def _steps(fault: str, rng: random.Random) -> tuple[Step, ...]:
    """What the fake API does to the requests of a message with `fault`, before it echoes."""
    match fault:
        case "overloaded":
            return (Overloaded(times=rng.randint(1, CLI_GIVES_UP_AFTER - 1)),)
        case "server error":
            return (ErrorStatus(500, "api_error", "Internal server error"),) \
                * rng.randint(1, 2)
        case "slow":
            return (EchoPrompt(delay=rng.uniform(1.0, 3.0)),)
        case _:  # GIVES_UP: every request of every attempt
            return (Overloaded(times=1_000),)


def _plan(rng: random.Random) -> dict[tuple[int, int], str]:
    """(chat, n) -> its fault: one or two that never recover, one of each other kind,
    then about half of the rest faulty.

    A message that never got its answer stays in the CLI's conversation, so the chat's
    next turn answers it too (`echo: 1st\\n\\n2nd`): only a chat's last message is
    made hopeless, so that every other answer is exactly its message's echo.
    """
    last = [(chat, PER_CHAT - 1) for chat in CHATS]
    hopeless = rng.sample(last, rng.randint(1, 2))
    rest = [(chat, n) for chat in CHATS for n in range(PER_CHAT) if (chat, n) not in hopeless]
    rng.shuffle(rest)
    faults = list(FAULTS) + [rng.choice(FAULTS) if rng.random() < 0.5 else CALM
                             for _ in rest[len(FAULTS):]]
    return {**dict.fromkeys(hopeless, GIVES_UP), **dict(zip(rest, faults, strict=True))}


def _one_answer_or_failure_note(core: BotApiCore, sent: list[UserMessage],
                                failing: set[tuple[int, int]]) -> list[str]:
    """👀 and exactly one answer each: the echo, or for `failing` (chat_id, message_id) a
    note that says what went wrong."""
    problems = []
    for message, seen in invariants.deliveries(core, sent).items():
        where = f"chat {message.chat_id}, message {message.message_id} ({message.text!r})"
        if not seen.acked:
            problems.append(f"{where}: no 👀")
        if len(seen.answers) != 1:
            problems.append(f"{where}: {len(seen.answers)} answers "
                            f"{[a.text for a in seen.answers]}")
            continue
        text = seen.answers[0].text or ""
        if (message.chat_id, message.message_id) in failing:
            if not (text.startswith(SORRY + "Claude reported an error") and "529" in text):
                problems.append(f"{where}: the API never recovered, yet {text!r}")
        elif text != f"echo: {message.text}":
            problems.append(f"{where}: answered {text!r}")
    return problems


def test_sixteen_chats_through_the_real_cli_with_a_failing_api_each_get_their_answers_in_order(
    claude_bridge, anthropic: FakeAnthropicApi, storm_random: random.Random
) -> None:
    rng = storm_random
    bridge: Bridge = claude_bridge(CHATS, cap=CAP, mode="queue", max_attempts=2)
    plan = _plan(rng)
    script = Script(default=EchoPrompt())
    texts = {(chat, n): f"{chat} #{n} ({fault})" for (chat, n), fault in plan.items()}
    for key, fault in plan.items():
        if fault != CALM:
            script.push_for_prompt(texts[key], *_steps(fault, rng))
    anthropic.script = script

    began = time.monotonic()
    sent: list[UserMessage] = []
    failing: set[tuple[int, int]] = set()
    for n in range(PER_CHAT):
        for chat in CHATS:
            message_id = bridge.say(chat, texts[chat, n])
            sent.append(UserMessage(chat, message_id, texts[chat, n], time.monotonic()))
            if plan[chat, n] == GIVES_UP:
                failing.add((chat, message_id))

    def unanswered() -> list[str]:
        return [m.text for m in sent if not invariants.deliveries(bridge.core, [m])[m].answers]

    assert bridge.core.wait_for(lambda c: not unanswered(), timeout=75), unanswered()
    answered_after = time.monotonic() - began

    assert _one_answer_or_failure_note(bridge.core, sent, failing) == []
    assert invariants.answers_in_message_order(bridge.core, sent) == []
    pool = bridge.pool()
    assert pool["peak_running"] == CAP, "the cap was exceeded or never reached"
    assert anthropic.peak_in_flight <= CAP, "more brains asked the API at once than the cap"
    assert pool["turns_started"] == len(sent)
    assert bridge.core.wait_for(lambda c: bridge.pool()["running"] == [], timeout=15)
    assert_no_leftovers(bridge.service)
    asked = Counter(r.user_text for r in anthropic.message_requests)
    assert [m.text for m in sent if not asked[m.text]] == [], "prompts the API never saw"

    kinds = Counter(plan.values())
    print(f"answered {answered_after:.1f} s after the first message; faults {dict(kinds)}; "
          f"API requests {sum(asked.values())} for {len(sent)} messages; "
          f"attempts {pool['attempts_started']}")
