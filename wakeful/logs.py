"""Logging setup: secrets never reach a log line, chatty libraries stay quiet."""

from __future__ import annotations

import logging

from wakeful.config import Secret


class RedactingFilter(logging.Filter):
    """Replaces every secret's value with *** in the final message text."""

    def __init__(self, secrets: list[Secret]) -> None:
        super().__init__()
        self._values = [s.reveal() for s in secrets if s.reveal()]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for value in self._values:
            redacted = redacted.replace(value, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure(level: str = "INFO", secrets: list[Secret] | None = None,
              json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and Telegram URLs contain the token.
    for noisy in ("httpx", "httpcore", "telegram", "pykka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
