"""Telegram's error envelope, shared by every part of the fake that can refuse a call.

PTB picks its exception type from the HTTP status and `parameters.retry_after`, and shows
the description to the bot, so all three have to look like api.telegram.org's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

JSONDict = dict[str, Any]
Envelope = tuple[int, JSONDict]


class ApiError(Exception):
    """A refused Bot API call; raised anywhere inside a call, answered by the dispatcher."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> Envelope:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.code, body


def bad_request(detail: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS, f"Too Many Requests: retry after {retry_after}", retry_after
    )
