"""PTB's exception hierarchy mapped once, at the edge, into what our actors decide on."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from telegram import error as tg

# Opt in to PTB's future behaviour (durations as timedelta) instead of a deprecation
# warning on every 429; classify() accepts both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")


class FailureKind(enum.Enum):
    RETRY_LATER = "retry_later"  # 429: wait retry_after, then try again
    TRANSIENT = "transient"  # network hiccup, timeout, 5xx: try again soon
    CONFLICT = "conflict"  # 409: another getUpdates consumer
    CHAT_GONE = "chat_gone"  # 403 blocked/kicked, 400 chat not found: never for this chat
    BAD_REQUEST = "bad_request"  # 400: our request is wrong; retrying cannot help
    UNAUTHORIZED = "unauthorized"  # bad token: nothing will work
    UNKNOWN = "unknown"


# 400s that mean the chat itself is gone for the bot, not that one request was wrong.
_CHAT_GONE_400 = ("chat not found", "group chat was upgraded", "peer_id_invalid",
                  "user is deactivated", "bot was kicked")


@dataclass(frozen=True)
class TelegramFailure:
    kind: FailureKind
    description: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in {FailureKind.RETRY_LATER, FailureKind.TRANSIENT, FailureKind.CONFLICT}


def classify(exc: BaseException) -> TelegramFailure:
    text = str(exc) or type(exc).__name__
    match exc:
        case tg.RetryAfter():
            retry = exc.retry_after
            seconds = retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)
            return TelegramFailure(FailureKind.RETRY_LATER, text, seconds)
        case tg.Conflict():
            return TelegramFailure(FailureKind.CONFLICT, text)
        case tg.Forbidden():
            return TelegramFailure(FailureKind.CHAT_GONE, text)
        case tg.InvalidToken() | tg.EndPointNotFound():
            # We only make raw API calls for methods that exist (getUpdates), and for those
            # PTB reports Telegram's 401/404 for a revoked token as EndPointNotFound.
            return TelegramFailure(FailureKind.UNAUTHORIZED, "the bot token was rejected")
        case tg.BadRequest() if any(m in text.lower() for m in _CHAT_GONE_400):
            return TelegramFailure(FailureKind.CHAT_GONE, text)
        case tg.BadRequest():
            return TelegramFailure(FailureKind.BAD_REQUEST, text)
        case tg.TimedOut() | tg.NetworkError() | TimeoutError() | ConnectionError():
            return TelegramFailure(FailureKind.TRANSIENT, text)
        case _:
            return TelegramFailure(FailureKind.UNKNOWN, f"{type(exc).__name__}: {text}")
