"""What one preflight check found: a line for the operator, and whether it stops `run`."""

from __future__ import annotations

import enum
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
