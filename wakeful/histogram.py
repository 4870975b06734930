"""Latency histograms kept by the actor that sees the event, shown in its snapshot.

Prometheus histograms are cumulative bucket counts with fixed upper bounds; an actor
keeps the counts (cheap: one bisect per observation) and exposes a JSON-able view
in its state, which the metrics collector (wakeful/ops/collector.py) turns into a
histogram series at scrape time. No Prometheus import here: actors stay I/O-free.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

# 👀: the promise is "within a second or so"; the low bounds separate a healthy
# service (tens of milliseconds) from a busy one, the high ones a stalled one.
ACK_SECONDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A brain turn: seconds for a quick answer, minutes for real work, up to the budget.
TURN_SECONDS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Histogram:
    """Counts of observations by upper bound (Prometheus' `le`), plus their count and sum."""

    def __init__(self, bounds: Sequence[float]) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"bounds must be increasing and distinct, got {bounds!r}")
        self.bounds = tuple(float(b) for b in bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is above every bound
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = <=).
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def view(self) -> dict[str, Any]:
        """JSON-able: `le` the finite bounds and `buckets` the cumulative counts at each;
        the +Inf bucket is `count` (JSON has no infinity)."""
        cumulative, running = [], 0
        for n in self._counts[:-1]:
            running += n
            cumulative.append(running)
        return {"le": list(self.bounds), "buckets": cumulative, "count": self.count,
                "sum": round(self.sum, 6)}


class LabelledHistograms:
    """One histogram per label value (e.g. a turn's outcome), all with the same bounds.

    Only for labels from a small fixed set: each value is a series at every scrape.
    The `labels` given up front show (at zero) before their first observation, so a
    query over them has a series to work with from the start.
    """

    def __init__(self, bounds: Sequence[float], labels: Sequence[str] = ()) -> None:
        self._bounds = tuple(bounds)
        self._by_label = {label: Histogram(self._bounds) for label in labels}
        Histogram(self._bounds)  # fail at construction on bad bounds, not on first use

    def observe(self, label: str, value: float) -> None:
        histogram = self._by_label.get(label)
        if histogram is None:
            histogram = self._by_label[label] = Histogram(self._bounds)
        histogram.observe(value)

    def view(self) -> dict[str, dict[str, Any]]:
        return {label: h.view() for label, h in sorted(self._by_label.items())}
