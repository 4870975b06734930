"""Daily budgets: may a chat start another turn today, and if not, what it is told.

Pure: what the chat spent today, its budget and the wall time in, a verdict out. Days
are UTC days (the journal books each turn's cost on the UTC day the turn finished), so
every budget resets at 00:00 UTC, whatever the operator's or the user's time zone.
A turn is never cut short for money: the turn that crosses the budget finishes, and
the next message is the one refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86_400.0


@dataclass(frozen=True)
class BudgetReached:
    spent_usd: float
    budget_usd: float
    resets_in: float  # seconds until 00:00 UTC


def check(spent_usd: float, budget_usd: float | None, now_wall: float) -> BudgetReached | None:
    """None: the turn may run (no budget, or some of it left)."""
    if budget_usd is None or spent_usd < budget_usd:
        return None
    return BudgetReached(spent_usd, budget_usd, next_reset(now_wall) - now_wall)


def next_reset(now_wall: float) -> float:
    """The next 00:00 UTC after `now_wall` (unix time has no leap seconds: days are equal)."""
    return (math.floor(now_wall / DAY) + 1) * DAY


def text(reached: BudgetReached) -> str:
    return (f"Daily budget reached for this chat: ${reached.spent_usd:.2f} of "
            f"${reached.budget_usd:.2f} spent today. It resets at 00:00 UTC "
            f"(in {_duration(reached.resets_in)}).")


def _duration(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))  # "in 0 min" would read as "now"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
