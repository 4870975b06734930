"""Preflight: Telegram takes the token (getMe), and nothing but polling is set up (webhook).

The check uses a short-lived `Bot` with requests of its own, on an event loop of its
own (`asyncio.run`) that is gone before this returns: the service's gateway thread is
not started, and no thread or connection outlives the check. Transient failures (no
answer, a 5xx, a short flood wait) are retried a few times within seconds; a rejected
token is not, since no retry can fix it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot
from telegram.request import HTTPXRequest
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from wakeful.bots.errors import FailureKind, classify
from wakeful.bots.webhook import webhook_origin
from wakeful.config import Secret, TelegramConfig
from wakeful.ops.findings import Finding

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

ATTEMPTS = 3
# Retries, flood waits included, fit in this many seconds; a longer flood wait is
# reported instead of waited out (the operator is looking at a terminal).
RETRY_WITHIN = 10.0
TIMEOUT = 5.0
_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=2.0, jitter=0.25)
_RETRIED = frozenset({FailureKind.TRANSIENT, FailureKind.AMBIGUOUS, FailureKind.RETRY_LATER})


class Unanswered(Exception):
    """A call that failed for good: its last error, and how many attempts were made."""

    def __init__(self, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


def check_telegram(telegram: TelegramConfig, token: Secret,
                   sleep: Sleep = asyncio.sleep) -> list[Finding]:
    """getMe, then getWebhookInfo; `sleep` waits between attempts (tests pass a fake)."""
    return asyncio.run(_check(telegram, token, sleep))


async def _check(telegram: TelegramConfig, token: Secret, sleep: Sleep) -> list[Finding]:
    request = HTTPXRequest(connection_pool_size=1, connect_timeout=TIMEOUT,
                           read_timeout=TIMEOUT, write_timeout=TIMEOUT, pool_timeout=TIMEOUT)
    # Never used; without it the Bot would build a default one, another client to close.
    unused = HTTPXRequest(connection_pool_size=1)
    bot = Bot(token.reveal(), base_url=telegram.base_url, request=request,
              get_updates_request=unused)
    try:
        return await _findings(bot, telegram, sleep)
    finally:
        # Not bot.shutdown(): the bot was never initialize()d (that would call getMe
        # outside the retries, and word a rejected token with the token in the text).
        await asyncio.gather(request.shutdown(), unused.shutdown())


async def _findings(bot: Bot, telegram: TelegramConfig, sleep: Sleep) -> list[Finding]:
    try:
        me = await _with_retries("getMe", bot.get_me, sleep)
    except Unanswered as failed:
        return [Finding.problem(_failure_line("getMe", failed, telegram))]
    found = [Finding.ok(f"telegram: @{me.username} (id {me.id}) at {telegram.base_url}")]
    try:
        info = await _with_retries("getWebhookInfo", bot.get_webhook_info, sleep)
    except Unanswered as failed:
        return [*found, Finding.problem(_failure_line("getWebhookInfo", failed, telegram))]
    if info.url:
        found.append(Finding.note(f"webhook set ({webhook_origin(info.url)}): "
                                  "wakeful run will delete it to poll"))
    else:
        found.append(Finding.ok("webhook: none (wakeful polls getUpdates)"))
    return found


async def _with_retries(method: str, call: Callable[[], Awaitable[T]], sleep: Sleep) -> T:
    retrying = AsyncRetrying(
        stop=stop_after_attempt(ATTEMPTS) | stop_before_delay(RETRY_WITHIN),
        wait=_wait,
        retry=retry_if_exception(lambda exc: classify(exc).kind in _RETRIED),
        sleep=sleep,
        before_sleep=lambda state: _log_retry(method, state),
        reraise=True,
    )
    try:
        return await retrying(call)
    except Exception as exc:  # every error becomes one line; classify() words it
        raise Unanswered(exc, int(retrying.statistics.get("attempt_number", 1))) from exc


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    if error is not None:
        retry_after = classify(error).retry_after
        if retry_after is not None:
            return retry_after
    return float(_BACKOFF(state))


def _log_retry(method: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    kind = classify(error).kind.value if error is not None else "unknown"
    log.debug("%s failed (%s); attempt %d of %d in %.1f s", method, kind,
              state.attempt_number + 1, ATTEMPTS, state.upcoming_sleep)


def _failure_line(method: str, failed: Unanswered, telegram: TelegramConfig) -> str:
    failure = classify(failed.error)
    reason = _reason(failed.error)
    tries = f" ({failed.attempts} attempts)" if failed.attempts > 1 else ""
    match failure.kind:
        case FailureKind.UNAUTHORIZED:
            where = " and [telegram] base_url" if reason == "Not Found" else ""
            return (f"Telegram rejected the bot token ({reason}): check "
                    f"${telegram.token_env} / token_file{where}")
        case FailureKind.TRANSIENT | FailureKind.AMBIGUOUS:
            return f"cannot reach Telegram at {telegram.base_url}: {reason}{tries}"
        case FailureKind.RETRY_LATER:
            return (f"Telegram is limiting this bot's calls (retry after "
                    f"{failure.retry_after or 0:.0f} s): try again later")
        case _:
            return f"Telegram refused {method}: {reason}"


def _reason(error: BaseException) -> str:
    # PTB words transport failures as "httpx.ConnectError: ..."; the cause says it plainly.
    cause = error.__cause__
    if cause is not None and type(cause).__module__.startswith(("httpx", "httpcore")):
        return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    return str(error) or type(error).__name__
