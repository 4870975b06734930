"""sendMessageDraft (Bot API 9.3, PTB 22.8): a streamed preview in a private chat."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, RetryAfter

from tests.bots.harness import GROUP, TOKEN, USER, BotFactory, ManualClock, run
from wakeful.testing.bot_api import BotApiCore, RateLimits, SentRecord


def test_drafts_are_recorded_with_their_id_and_plain_text(
    make_bot: BotFactory, core: BotApiCore, clock: ManualClock
) -> None:
    core.inject_text(USER, "write me a poem")

    async def scenario() -> None:
        async with make_bot() as bot:
            assert await bot.send_message_draft(USER, 7, "Roses <b>are</b>", parse_mode="HTML")
            clock.mono += 1
            assert await bot.send_message_draft(USER, 7, "Roses are red")
            # Since Bot API 10.0 an empty draft shows "Thinking…".
            assert await bot.send_message_draft(USER, 8)

    run(scenario)
    assert core.sent(USER) == [
        SentRecord("draft", USER, None, "Roses are", None, None, None, 100.0,
                   1_700_000_000.0, parse_mode="HTML", draft_id=7),
        SentRecord("draft", USER, None, "Roses are red", None, None, None, 101.0,
                   1_700_000_000.0, draft_id=7),
        SentRecord("draft", USER, None, "", None, None, None, 101.0, 1_700_000_000.0,
                   draft_id=8),
    ]  # fmt: skip
    # A draft is ephemeral: it never becomes a message of the chat.
    assert core.message(USER, 2) is None


def test_drafts_are_refused_outside_private_chats(make_bot: BotFactory, core: BotApiCore) -> None:
    core.inject_text(GROUP, "hi all", user_id=7, chat_type="group")

    async def scenario() -> None:
        async with make_bot() as bot:
            with pytest.raises(BadRequest, match=r"(?i)^textdraft_peer_invalid$"):
                await bot.send_message_draft(GROUP, 1, "no drafts here")

    run(scenario)
    assert core.sent(GROUP) == []


def test_draft_validation(core: BotApiCore) -> None:
    core.inject_text(USER, "hi")

    def draft(**params: object) -> str:
        body = core.dispatch(TOKEN, "sendMessageDraft", {"chat_id": USER, **params})[1]
        return str(body.get("description", "ok"))

    assert draft(draft_id=0, text="x") == "Bad Request: draft_id must be non-zero"
    assert draft(text="x") == "Bad Request: draft_id is empty"
    assert draft(draft_id=1, text="😀" * 2049) == "Bad Request: message is too long"
    assert draft(draft_id=1, text="<b>x", parse_mode="HTML").startswith(
        "Bad Request: can't parse entities: "
    )
    assert draft(draft_id=1, text="😀" * 2048) == "ok"


def test_drafts_count_against_the_flood_limits(
    make_bot: BotFactory, core: BotApiCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    core.inject_text(USER, "hi")
    core.set_limits(RateLimits())

    async def scenario() -> None:
        async with make_bot() as bot:
            await bot.send_message_draft(USER, 1, "partial")
            with pytest.raises(RetryAfter):
                await bot.send_message_draft(USER, 1, "partial answer")

    run(scenario)
    assert core.throttled().by_method == {"sendMessageDraft": 1}
