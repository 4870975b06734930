"""A busy group: a few allowed people and several strangers talking at once.

The real tree over real HTTP (the local Bot API server), stand-in brains. In one group,
3 to 5 people on the allowlist and 3 to 5 strangers write in a seeded interleaving, in
two phases: the second starts once the refusal window has passed, and in it people also
reply to the bot's answers and to each other. Messages mention the bot (anywhere in the
text, in any case), mention someone else, or are plain chatter; a few are commands for
another bot. Run once with `group_messages = "all"` and once with "addressed".

Afterwards: every allowed person's message meant for the bot (in "all" mode, every one
but another bot's commands) is acknowledged and answered exactly once, in the group's
order, and the brains were given exactly those, each naming its sender; nothing else
(no stranger's text, no chatter the mode ignores) reaches a brain, the journal or a 👀;
each stranger who spoke to the bot is refused exactly once per window (so once per
phase), and one who never did is never told.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.conftest import BotApi
from tests.storms import invariants
from wakeful.delivery.settings import DeliveryConfig
from wakeful.demo.users import UserMessage
from wakeful.testing.bot_api import BotApiCore

GROUP = -6_000
BOT = "wakeful_test_bot"  # the local server's bot
WINDOW = 3.0  # refusal_every
PEOPLE = ["Ada", "Bob", "Chen", "Dörte", "Émile"]
STRANGERS = ["Mallory", "Trudy", "Eve", "Oscar", "Sybil"]
WORDS = ["lunch?", "the build is red", "ünïcödé", "中文 😀", "who has the keys", "ok", "🇫🇷"]


@dataclass(frozen=True)
class Said:
    user: int
    name: str
    text: str
    addressed: bool  # mentions the bot or replies to it
    other_bot: bool = False  # "/cmd@another_bot": nobody's business here
    reply_to: int | None = None  # message id, resolved when it is sent


def _line(rng: random.Random, user: int, name: str, to_bot: bool, replies: list[int],
          bot_answers: list[int]) -> Said:
    """One thing said in the group; `to_bot`: addressed to the bot."""
    words = rng.choice(WORDS)
    if to_bot:
        if bot_answers and rng.random() < 0.3:
            return Said(user, name, words, True, reply_to=rng.choice(bot_answers))
        mention = rng.choice([f"@{BOT}", f"@{BOT.upper()}", "@Wakeful_Test_Bot"])
        text = rng.choice([f"{mention} {words}", f"{words} {mention} please",
                           f"{words} {mention}"])
        return Said(user, name, text, True)
    if replies and rng.random() < 0.3:
        return Said(user, name, words, False, reply_to=rng.choice(replies))
    return Said(user, name, rng.choice([words, f"@someone_else {words}"]), False)


def _phase(rng: random.Random, people: dict[int, str], strangers: dict[int, str],
           answered: int, all_mode: bool, replies: list[int], bot_answers: list[int]
           ) -> list[Said]:
    """`answered` lines from the people for the bot to answer, chatter the mode ignores,
    a command for another bot, and the strangers' lines, in a seeded order."""
    lines = []
    for _ in range(answered):
        user = rng.choice(list(people))
        lines.append(_line(rng, user, people[user], not all_mode or rng.random() < 0.5,
                           replies, bot_answers))
    if not all_mode:
        for _ in range(rng.randint(3, 6)):
            user = rng.choice(list(people))
            lines.append(_line(rng, user, people[user], False, replies, bot_answers))
    user = rng.choice(list(people))
    lines.append(Said(user, people[user], "/status@another_bot", False, other_bot=True))
    for _ in range(rng.randint(6, 10)):
        user = rng.choice(list(strangers))
        if rng.random() < 0.15:
            lines.append(Said(user, strangers[user], "/help@another_bot", False, other_bot=True))
        else:
            lines.append(_line(rng, user, strangers[user], rng.random() < 0.6, replies,
                               bot_answers))
    rng.shuffle(lines)
    return lines


def _refusals(core: BotApiCore) -> Counter[int]:
    """Refusals in the group, by the stranger's id (each names it)."""
    found: Counter[int] = Counter()
    for record in core.sent(GROUP):
        text = record.text or ""
        if record.kind == "message" and "allowlist" in text:
            found[int(text.split("user id is ")[1].split(";")[0])] += 1
    return found


def _refusals_due(phases: list[Counter[int]]) -> Counter[int]:
    """Once per window and per stranger: one refusal for each phase they spoke to the
    bot in (each phase is shorter than a window, and they are a window apart); none for
    a stranger who never did."""
    return Counter(user for phase in phases for user in phase)


def _prompts(path: Path) -> list[str]:
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines()] \
        if path.exists() else []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("group_messages", ["all", "addressed"])
def test_in_a_busy_group_only_the_allowed_are_answered_in_order_and_strangers_refused_once(
    bot_api: BotApi, run_service, tmp_path: Path, storm_random: random.Random,
    group_messages: str,
) -> None:
    rng = storm_random
    all_mode = group_messages == "all"
    people = {6_001 + n: name for n, name in enumerate(PEOPLE[:rng.randint(3, 5)])}
    strangers = {6_101 + n: name for n, name in enumerate(STRANGERS[:rng.randint(3, 5)])}
    prompts = tmp_path / "prompts.jsonl"
    config = bot_api.config(list(people), brain_delay=0.02,
                            env={"WAKEFUL_STANDIN_PROMPTS": str(prompts)})
    config = replace(
        config, telegram=replace(config.telegram, group_messages=group_messages,
                                 refusal_every=WINDOW),
        # Telegram's 20 messages a minute per group would make this a two-minute storm
        # about pacing; this one is about who gets in.
        delivery=DeliveryConfig(per_chat_per_second=1000, per_group_per_minute=1000))
    svc = run_service(config)
    core = bot_api.core

    answerable: list[UserMessage] = []  # text: the prompt the brain must be given
    others: list[tuple[Said, int]] = []  # (line, message id) never to be answered
    refusable: list[Counter[int]] = []  # per phase: stranger -> lines to the bot
    said_ids: list[int] = []
    bot_answers: list[int] = []
    for phase, count in enumerate((14, 8)):
        lines = _phase(rng, people, strangers, count, all_mode, said_ids, bot_answers)
        refusable.append(Counter(s.user for s in lines if s.user in strangers
                                 and not s.other_bot and (all_mode or s.addressed)))
        for said in lines:
            update = core.inject_text(GROUP, said.text, user_id=said.user,
                                      first_name=said.name, chat_type="group",
                                      reply_to_message_id=said.reply_to)
            message_id = update["message"]["message_id"]
            said_ids.append(message_id)
            if said.user in people and not said.other_bot and (all_mode or said.addressed):
                answerable.append(UserMessage(GROUP, message_id,
                                              f"{said.name} (id {said.user}): {said.text}",
                                              time.monotonic()))
            else:
                others.append((said, message_id))
            time.sleep(rng.uniform(0.0, 0.03))
        # The phase is over once every answer is out, Telegram has handed over every
        # update and each stranger's refusal has gone out.
        due, answers = _refusals_due(refusable), len(answerable)

        def phase_over(c: BotApiCore, due: Counter[int] = due, answers: int = answers) -> bool:
            return (len(bot_api.replies(GROUP)) >= answers and c.pending_update_ids() == []
                    and _refusals(c) == due)

        assert core.wait_for(phase_over, timeout=60), (
            len(bot_api.replies(GROUP)), answers, _refusals(core), due)
        bot_answers = [r.message_id for r in bot_api.replies(GROUP)]
        if phase == 0:
            # The next phase starts a full window after the last refusal went out: each
            # stranger who speaks to the bot again is told again, once.
            last = max((r.at_monotonic for r in core.sent(GROUP)
                        if r.kind == "message" and "allowlist" in (r.text or "")), default=0.0)
            time.sleep(max(0.0, last + WINDOW + 0.2 - time.monotonic()))

    assert len(answerable) >= 20
    assert invariants.every_message_acked_and_answered_once(core, answerable) == []
    assert invariants.answers_in_message_order(core, answerable) == []
    assert _prompts(prompts) == [m.text for m in answerable], \
        "the brains saw exactly the allowed people's lines, in order, each naming its sender"
    answered_or_acked = {r.reply_to_message_id for r in core.sent(GROUP) if r.kind == "message"
                         } | {r.message_id for r in core.sent(GROUP) if r.kind == "reaction"}
    untouched = [(said, mid) for said, mid in others
                 if mid in answered_or_acked or svc.journal.has_message(GROUP, mid)]
    assert untouched == [], "a line the bot must ignore got a 👀, an answer or a journal row"
    assert _refusals(core) == _refusals_due(refusable)
    poller = svc.ask("poller")
    assert poller["admitted"] == len(answerable)
    assert poller["refused"] == sum(sum(phase.values()) for phase in refusable)
    assert poller["refused"] + poller["ignored"] == len(others)
    print(f"{group_messages}: {len(people)} people, {len(strangers)} strangers, "
          f"{len(answerable)} answered, {len(others)} not, refusals {dict(_refusals(core))}")
