"""PTB's exception hierarchy mapped once, at the edge, into what our actors decide on.

Nothing else in wakeful looks at an exception's text: actors match on `FailureKind`.
"""

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
    TRANSIENT = "transient"  # the request never reached Telegram, or a 5xx: try again
    # The request went out but its answer was lost (read timeout, dropped connection):
    # Telegram may have carried it out. Retrying a sendMessage may show it twice.
    AMBIGUOUS = "ambiguous"
    CONFLICT = "conflict"  # 409: another getUpdates consumer
    CHAT_GONE = "chat_gone"  # 403 blocked/kicked, 400 chat not found: never for this chat
    NOT_MODIFIED = "not_modified"  # an edit to the text it already has: that is success
    ENTITIES = "entities"  # 400 can't parse entities: send it as plain text instead
    TOO_LONG = "too_long"  # 400 message is too long
    FILE_TOO_BIG = "file_too_big"  # getFile's 400 "file is too big", or over our own cap
    BAD_REQUEST = "bad_request"  # any other 400: our request is wrong; retrying cannot help
    UNAUTHORIZED = "unauthorized"  # bad token: nothing will work
    UNKNOWN = "unknown"


# 400s that mean the chat itself is gone for the bot, not that one request was wrong.
_CHAT_GONE_400 = ("chat not found", "group chat was upgraded", "peer_id_invalid",
                  "user is deactivated", "bot was kicked")
_ENTITIES_400 = ("can't parse entities", "can't find end", "entity", "unsupported start tag",
                 "can't parse message entit")
_TOO_LONG_400 = ("message is too long", "message_too_long", "text is too long")
# httpx exceptions (PTB keeps them as __cause__) after which the request may have been
# carried out: it was written, and no answer came back.
_AMBIGUOUS_CAUSES = frozenset({"ReadTimeout", "WriteTimeout", "RemoteProtocolError",
                               "ReadError", "WriteError"})


class FileTooBig(Exception):
    """A file is over the size wakeful downloads (checked at the edge, after getFile)."""


class FileUnavailable(Exception):
    """Telegram would not serve a file getFile had named (its download link expired)."""


@dataclass(frozen=True)
class TelegramFailure:
    kind: FailureKind
    description: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in {FailureKind.RETRY_LATER, FailureKind.TRANSIENT,
                             FailureKind.AMBIGUOUS, FailureKind.CONFLICT}


def classify(exc: BaseException) -> TelegramFailure:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    match exc:
        case FileTooBig():
            return TelegramFailure(FailureKind.FILE_TOO_BIG, text)
        case FileUnavailable():
            return TelegramFailure(FailureKind.BAD_REQUEST, text)
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
        case tg.BadRequest():
            return TelegramFailure(_bad_request_kind(lowered), text)
        case tg.TimedOut() | tg.NetworkError() | TimeoutError() | ConnectionError():
            kind = FailureKind.AMBIGUOUS if _maybe_applied(exc) else FailureKind.TRANSIENT
            return TelegramFailure(kind, text)
        case _:
            return TelegramFailure(FailureKind.UNKNOWN, f"{type(exc).__name__}: {text}")


def _bad_request_kind(lowered: str) -> FailureKind:
    if "not modified" in lowered:
        return FailureKind.NOT_MODIFIED
    if "file is too big" in lowered:
        return FailureKind.FILE_TOO_BIG
    if any(marker in lowered for marker in _CHAT_GONE_400):
        return FailureKind.CHAT_GONE
    if any(marker in lowered for marker in _TOO_LONG_400):
        return FailureKind.TOO_LONG
    if any(marker in lowered for marker in _ENTITIES_400):
        return FailureKind.ENTITIES
    return FailureKind.BAD_REQUEST


def _maybe_applied(exc: BaseException) -> bool:
    """Did the request reach Telegram before its answer was lost?"""
    cause = exc.__cause__
    if cause is not None:
        return type(cause).__name__ in _AMBIGUOUS_CAUSES
    if isinstance(exc, tg.TimedOut):
        # A timeout with no cause (a transport other than httpx) is a read timeout:
        # pool and connect timeouts name themselves, and PTB keeps httpx's as the cause.
        return "pool timeout" not in str(exc).lower()
    text = str(exc)
    return any(text.startswith(f"httpx.{name}") for name in _AMBIGUOUS_CAUSES)
