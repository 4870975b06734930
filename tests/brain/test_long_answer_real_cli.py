"""A 20,000-character answer full of emoji and code, from the real CLI to Telegram's limits."""

from __future__ import annotations

import random

import pytest

from tests.brain.conftest import Bridge
from wakeful.delivery.render import TELEGRAM_LIMIT, render_markdown, utf16_len
from wakeful.testing.fake_anthropic import Answer, FakeAnthropicApi, Script

pytestmark = [pytest.mark.real_cli, pytest.mark.timeout(120)]

CHAT = 655_001
EMOJI = ["😀", "🚀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "✅", "🔥", "é", "中文"]


def _long_answer(seed: int = 7, size: int = 20_000) -> tuple[str, list[str]]:
    """Markdown prose with emoji and fenced code blocks; also the code blocks' bodies."""
    rng = random.Random(seed)
    blocks: list[str] = []
    bodies: list[str] = []
    while sum(len(b) + 2 for b in blocks) < size:
        if rng.random() < 0.3:
            body = "\n".join(f"    value_{n} = compute({n})  # {rng.choice(EMOJI)}"
                             for n in range(rng.randint(5, 60)))
            bodies.append(body)
            blocks.append(f"```python\n{body}\n```")
        else:
            words = [rng.choice(["**bold**", "`code`", "_it_", "plain", "words", *EMOJI])
                     for _ in range(rng.randint(20, 120))]
            blocks.append(" ".join(words))
    return "\n\n".join(blocks), bodies


def _entity_text(text: str, entity: dict[str, object]) -> str:
    raw = text.encode("utf-16-le")
    offset, length = int(entity["offset"]), int(entity["length"])  # type: ignore[call-overload]
    return raw[offset * 2:(offset + length) * 2].decode("utf-16-le")


def test_a_twenty_thousand_character_answer_arrives_whole_in_parts_telegram_takes(
    claude_bridge, anthropic: FakeAnthropicApi
) -> None:
    answer, bodies = _long_answer()
    assert len(answer) >= 20_000
    anthropic.script = Script(default=Answer(answer, chunk_size=512))
    bridge: Bridge = claude_bridge([CHAT])
    bridge.say(CHAT, "write me something long")
    whole = render_markdown(answer, limit=10**9)[0].text  # what Telegram should show
    parts_needed = -(-utf16_len(whole) // TELEGRAM_LIMIT)
    assert bridge.core.wait_for(
        lambda c: "".join(r.text or "" for r in bridge.replies(CHAT)) == whole
        or len(bridge.replies(CHAT)) > parts_needed + 3, timeout=90), bridge.replies(CHAT)

    replies = bridge.replies(CHAT)
    assert "".join(r.text or "" for r in replies) == whole, "text unchanged when joined"
    assert all(utf16_len(r.text or "") <= TELEGRAM_LIMIT for r in replies)
    assert len(replies) >= parts_needed
    code: list[str] = []
    for reply in replies:
        stored = bridge.core.message(CHAT, reply.message_id)
        assert stored is not None
        pres = [e for e in stored.get("entities", []) if e["type"] == "pre"]
        # Every code block, or each half of a cut one, is a whole `pre` in its own part.
        assert all(e.get("language") == "python" for e in pres)
        code += [_entity_text(stored["text"], e) for e in pres]
    assert "".join(code).replace("\n", "") == "".join(bodies).replace("\n", ""), \
        "every line of code inside a code block, nothing else"
