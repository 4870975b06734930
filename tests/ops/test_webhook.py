"""A webhook left set: Telegram refuses getUpdates with 409 until it is deleted, so `run`
deletes it at start (saying so, without the webhook's secret path) and then polls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict
from telegram.request import HTTPXRequest

from tests.conftest import BotApi
from tests.test_cli import _reap, _start_run, _stop
from wakeful.bots.webhook import webhook_origin
from wakeful.config import Config
from wakeful.service import Service
from wakeful.testing.bot_api.core import WEBHOOK_CONFLICT

CHAT = 810_001
HOOK = "https://hooks.example.com/s3cret-path/for-the-bot"


def _with_bot(bot_api: BotApi, scenario: Callable[[Bot], Any]) -> Any:
    async def run() -> Any:
        bot = Bot(bot_api.token, base_url=bot_api.server.base_url,
                  request=HTTPXRequest(), get_updates_request=HTTPXRequest())
        async with bot:
            return await scenario(bot)

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


def test_get_updates_is_a_409_while_a_webhook_is_set_and_works_once_it_is_deleted(
    bot_api: BotApi
) -> None:
    core = bot_api.core
    core.inject_text(CHAT, "sent while the webhook was set", user_id=CHAT)
    core.set_webhook(HOOK)
    assert core.dispatch(bot_api.token, "getUpdates", {}) == (
        409, {"ok": False, "error_code": 409, "description": WEBHOOK_CONFLICT})

    async def scenario(bot: Bot) -> tuple[Any, ...]:
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates(timeout=0)
        before = await bot.get_webhook_info()
        assert await bot.delete_webhook()
        after = await bot.get_webhook_info()
        updates = await bot.get_updates(timeout=0)
        return before, after, updates

    before, after, updates = _with_bot(bot_api, scenario)
    assert (before.url, before.pending_update_count) == (HOOK, 1)
    assert (after.url, after.pending_update_count) == ("", 1)
    assert [u.message.text for u in updates] == ["sent while the webhook was set"], \
        "deleting the webhook keeps what was waiting for it"


def test_delete_webhook_can_drop_what_was_waiting(bot_api: BotApi) -> None:
    bot_api.core.inject_text(CHAT, "old news", user_id=CHAT)
    bot_api.core.set_webhook(HOOK)

    async def scenario(bot: Bot) -> tuple[Any, ...]:
        assert await bot.delete_webhook(drop_pending_updates=True)
        return await bot.get_updates(timeout=0), await bot.get_webhook_info()

    updates, info = _with_bot(bot_api, scenario)
    assert updates == () and info.pending_update_count == 0 and info.url == ""
    assert bot_api.core.pending_update_ids() == []


def test_set_webhook_takes_https_only_and_an_empty_url_removes_it(bot_api: BotApi) -> None:
    async def scenario(bot: Bot) -> tuple[str, str]:
        assert await bot.set_webhook(HOOK)
        set_url = (await bot.get_webhook_info()).url
        with pytest.raises(BadRequest, match=r"(?i)an https url must be provided for webhook"):
            await bot.set_webhook("http://hooks.example.com/plain")
        assert await bot.set_webhook("")
        return set_url, (await bot.get_webhook_info()).url

    assert _with_bot(bot_api, scenario) == (HOOK, "")


def test_service_start_deletes_a_webhook_says_so_without_its_path_and_polls(
    bot_api: BotApi, run_service: Callable[[Config], Service],
    caplog: pytest.LogCaptureFixture
) -> None:
    bot_api.core.set_webhook(HOOK)
    bot_api.core.inject_text(CHAT, "before the start", user_id=CHAT)
    with caplog.at_level(logging.INFO):
        run_service(bot_api.config([CHAT], brain_delay=0.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert ("a webhook is set (https://hooks.example.com/...): deleting it so wakeful can "
            "poll; updates waiting for it are kept") in warnings
    assert "s3cret" not in caplog.text
    assert bot_api.core.webhook_url() == ""
    assert bot_api.core.call_counts()["deleteWebhook"] == 1
    (reply,) = bot_api.wait_replies(CHAT, 1)
    assert reply.text == "echo: before the start"


def test_service_start_without_a_webhook_deletes_nothing(
    bot_api: BotApi, run_service: Callable[[Config], Service]
) -> None:
    run_service(bot_api.config([CHAT]))
    calls = bot_api.core.call_counts()
    assert calls["getWebhookInfo"] == 1 and "deleteWebhook" not in calls


def test_wakeful_run_deletes_a_webhook_set_before_start_and_answers(
    bot_api: BotApi, tmp_path: Path
) -> None:
    bot_api.core.set_webhook(HOOK)
    bot_api.core.inject_text(CHAT, "while the webhook was set", user_id=CHAT)
    proc = _start_run(bot_api, tmp_path, CHAT, brain_delay=0.0)
    try:
        bot_api.wait_replies(CHAT, 1, timeout=60)
        bot_api.core.inject_text(CHAT, "after the start", user_id=CHAT)
        replies = bot_api.wait_replies(CHAT, 2, timeout=60)
        output = _stop(proc)
    finally:
        _reap(proc)
    assert [r.text for r in replies] == ["echo: while the webhook was set",
                                         "echo: after the start"]
    assert proc.returncode == 0, output
    assert "WARNING" in output and "a webhook is set (https://hooks.example.com/...): " \
        "deleting it so wakeful can poll" in output
    assert "s3cret" not in output and "Traceback" not in output
    assert bot_api.core.webhook_url() == ""
    assert bot_api.token not in output and bot_api.token.split(":", 1)[1] not in output


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example.com/s3cret", "https://hooks.example.com/..."),
    ("https://user:pass@hooks.example.com:8443/s3cret?token=x", "https://hooks.example.com:8443/..."),
    ("https://[2001:db8::1]:88/s3cret", "https://[2001:db8::1]:88/..."),
    ("not a url", "(unparseable URL)"),
    ("https://hooks.example.com:notaport/x", "(unparseable URL)"),
])
def test_a_webhook_is_shown_by_scheme_and_host_only(url: str, shown: str) -> None:
    assert webhook_origin(url) == shown
