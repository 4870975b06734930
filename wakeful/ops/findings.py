"""What one preflight check found: a line for the operator, and whether it stops `run`."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Outcome(enum.Enum):
    OK = "ok"
    # Worth knowing, not a reason to refuse: `run` deals with it (a webhook it deletes).
    NOTE = "note"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    outcome: Outcome
    line: str

    @classmethod
    def ok(cls, line: str) -> Finding:
        return cls(Outcome.OK, line)

    @classmethod
    def note(cls, line: str) -> Finding:
        return cls(Outcome.NOTE, line)

    @classmethod
    def problem(cls, line: str) -> Finding:
        return cls(Outcome.PROBLEM, line)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and the part of a bot token after its colon) as ***.

    PTB puts the token in request URLs and in some error texts; whatever reached a
    line by a path nobody foresaw is caught here, at the last step before printing.
    """
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        _, colon, tail = secret.partition(":")
        if colon and len(tail) >= 8:
            text = text.replace(tail, "***")
    return text
