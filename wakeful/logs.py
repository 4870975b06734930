"""Logging: one line per event naming the actor and the chat, and no secret in any line.

Plain (`time level actor [chat=N] logger: message`) for a terminal or a file; JSON
lines (`[service] log_format = "json"`) for journald and log shippers. The actor is
the emitting thread's name: supervised actors name their thread after themselves
("poller#1", "chat:42#3"), the rest are "MainThread", "wakeful-gateway" (PTB and
httpx), "wakeful-notify" (systemd) and so on. The chat is the one the actor's current
message concerns (log_context.py), so the outbound actor's and the brain pool's lines
name it too; a line about no chat in particular has none.

Secrets are replaced in the *final* text, after formatting: the message with its
arguments, the exception and its traceback, a library's record (httpx logs request
URLs, and Telegram's carry the token) all pass through the same replacement, in the
secret's plain and URL-encoded forms (`:` is `%3A` in a URL).

Under systemd, each line starts with a `<N>` syslog priority that journald takes off
and keeps as the entry's priority, so `journalctl -p warning` finds the warnings.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import quote

from wakeful.config import Secret
from wakeful.log_context import current_chat

REDACTED = "***"
# chat_field is " chat=N" or nothing: set by PlainFormatter on its copy of the record.
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s%(chat_field)s %(name)s: %(message)s"
# Libraries that log every request at INFO: httpx's lines carry the token in the URL.
NOISY = ("httpx", "httpcore", "telegram", "pykka")
# A Telegram bot token: the bot's id, then the secret proper, which is redacted even
# where it appears alone.
_TELEGRAM_TOKEN = re.compile(r"\d+:([A-Za-z0-9_-]{20,})")
_SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4,
                    logging.INFO: 6, logging.DEBUG: 7}


class Redactor:
    """Replaces every form of every secret in a text with `***`."""

    def __init__(self, secrets: Iterable[Secret | str]) -> None:
        values = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
        patterns = sorted({p for v in values if v for p in _patterns(v)}, key=len, reverse=True)
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)


def _patterns(value: str) -> list[str]:
    forms = [value]
    token = _TELEGRAM_TOKEN.fullmatch(value)
    if token is not None:
        forms.append(token.group(1))
    patterns = [re.escape(form) for form in forms]
    for form in forms:
        encoded = quote(form, safe="")
        if encoded != form:
            # %3A and %3a are the same byte to every URL parser.
            patterns.append(re.sub(r"%([0-9A-F]{2})", r"%(?i:\1)", re.escape(encoded)))
    return patterns


def _message(record: logging.LogRecord) -> str:
    """The record's message; one whose arguments do not fit its format is still shown
    (logging's own error report would print the arguments unredacted, to stderr)."""
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!r} (arguments that do not fit: {record.args!r})"


class ChatFilter(logging.Filter):
    """Gives each record a `chat`: the chat its thread works for, unless the call named
    one (`extra={"chat": id}`). On the handler, so library records get it too; executed
    on the emitting thread, which is what makes the thread's chat the record's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "chat"):
            record.chat = current_chat()
        return True


def _chat(record: logging.LogRecord) -> int | None:
    """The record's chat; None for a record that did not pass a ChatFilter."""
    chat = getattr(record, "chat", None)
    return chat if isinstance(chat, int) else None


def _journald_prefix(record: logging.LogRecord) -> str:
    level = max((lvl for lvl in _SYSLOG_PRIORITY if lvl <= record.levelno),
                default=logging.DEBUG)
    return f"<{_SYSLOG_PRIORITY[level]}>"


class PlainFormatter(logging.Formatter):
    default_msec_format = "%s.%03d"

    def __init__(self, redact: Redactor, journald: bool = False) -> None:
        super().__init__(PLAIN_FORMAT)
        self._redact = redact
        self._journald = journald

    def format(self, record: logging.LogRecord) -> str:
        # A copy: logging caches the traceback's text on the record, unredacted.
        safe = copy.copy(record)
        safe.msg, safe.args, safe.exc_text = _message(record), None, None
        chat = _chat(record)
        safe.chat_field = "" if chat is None else f" chat={chat}"
        text = self._redact(super().format(safe))
        if not self._journald:
            return text
        # journald makes one entry per line: each line carries the event's priority.
        prefix = _journald_prefix(record)
        return "\n".join(prefix + line for line in text.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, actor, chat when there is one,
    message, and exc when there is a traceback."""

    def __init__(self, redact: Redactor, journald: bool = False) -> None:
        super().__init__()
        self._redact = redact
        self._journald = journald

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        doc: dict[str, object] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "actor": record.threadName,
        }
        chat = _chat(record)
        if chat is not None:
            doc["chat"] = chat
        doc["message"] = self._redact(_message(record))
        if record.exc_info:
            doc["exc"] = self._redact(self.formatException(record.exc_info))
        if record.stack_info:
            doc["stack"] = self._redact(self.formatStack(record.stack_info))
        # Redacted again as a whole: a secret that JSON escaping left intact is caught
        # even if a field above were missed.
        line = self._redact(json.dumps(doc, ensure_ascii=False))
        return _journald_prefix(record) + line if self._journald else line


def under_journald(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd gave us ($JOURNAL_STREAM is its
    device:inode), not a terminal or a file it was redirected to."""
    expected = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def configure(level: str = "INFO", secrets: Iterable[Secret | str] | None = None,
              json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Route every record through one handler on `stream` (stderr by default)."""
    out = sys.stderr if stream is None else stream
    redact = Redactor(secrets or ())
    journald = under_journald(out)
    handler = logging.StreamHandler(out)
    handler.addFilter(ChatFilter())
    handler.setFormatter(JsonFormatter(redact, journald) if json_lines
                         else PlainFormatter(redact, journald))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Python's warnings, too, become events of this format, redacted like the rest.
    logging.captureWarnings(True)
