"""Markdown tables, rows = contenders, each followed by its ratio to the working tree's."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.storms.run import Result

Value = float | int | str | None


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Result], Value]
    unit: str = ""
    ratio: bool = True  # numeric, and a ratio to the reference means something


USER_VIEW = [
    Column("status", lambda r: "ok" if r.failure is None else "FAILED", ratio=False),
    Column("👀 p50", lambda r: r.figures.ack_p50_ms, " ms"),
    Column("👀 p99", lambda r: r.figures.ack_p99_ms, " ms"),
    Column("👀 max", lambda r: r.figures.ack_max_ms, " ms"),
    Column("no 👀", lambda r: r.figures.without_ack),
    Column("last 👀", lambda r: r.figures.last_ack_s, " s"),
    Column("last answer", lambda r: r.figures.last_answer_s, " s"),
    Column("÷ floor", lambda r: r.figures.last_answer_over_floor, "×"),
    Column("unanswered", lambda r: r.figures.unanswered),
    Column("out of order", lambda r: r.figures.order_violations),
    Column("👀 after answer", lambda r: r.figures.ack_after_answer),
    Column("dup answers", lambda r: r.figures.duplicate_answers),
]

COST = [
    Column("calls/msg", lambda r: r.figures.calls_per_message),
    Column("429s", lambda r: r.figures.throttled),
    Column("429s by method", lambda r: _by_method(r.figures.throttled_by_method), ratio=False),
    Column("brain runs", lambda r: r.figures.brain_runs),
    Column("peak brains", lambda r: r.figures.peak_brains),
    Column("CPU", lambda r: r.figures.cpu_s, " s"),
    Column("CPU/msg", lambda r: r.figures.cpu_ms_per_message, " ms"),
    Column("storm CPU/msg", lambda r: r.figures.storm_cpu_ms_per_message, " ms"),
    Column("start", lambda r: None if r.startup_s is None else round(r.startup_s, 2), " s"),
    Column("stop", lambda r: r.stop_s, " s"),
    Column("left behind", lambda r: r.leftovers),
    Column("harness CPU", lambda r: r.harness_cpu_s, " s"),
]


def _by_method(counts: dict[str, int]) -> str:
    return ", ".join(f"{method} {n}" for method, n in counts.items()) or "-"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) == "W" else 1 for c in text)


def _cell(value: Value, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return value


def _ratio(value: Value, reference: Value) -> str:
    if not isinstance(value, int | float) or not isinstance(reference, int | float):
        return ""
    if reference == 0:
        return "=" if value == 0 else "n/a"
    return f"{value / reference:.2f}×"


def table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Aligned markdown; the first row is the header, `right` says which columns are
    right-aligned (numbers)."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = []
        for text, width, is_right in zip(row, widths, right, strict=True):
            pad = " " * (width - _width(text))
            cells.append(pad + text if is_right else text + pad)
        return "| " + " | ".join(cells) + " |"

    rule = ["-" * (w + 1) + ":" if is_right else "-" * (w + 2)
            for w, is_right in zip(widths, right, strict=True)]
    return [line(rows[0]), "|" + "|".join(rule) + "|", *(line(r) for r in rows[1:])]


def contender_table(results: Sequence[Result], columns: Sequence[Column],
                    reference: str | None) -> list[str]:
    # Ratios to a reference that failed would compare with figures it never finished.
    ref = next((r for r in results if r.contender == reference and r.failure is None), None)
    rows = [["contender", *(c.header for c in columns)]]
    for result in results:
        rows.append([result.contender, *(_cell(c.value(result), c.unit) for c in columns)])
        if ref is not None and result is not ref:
            rows.append([f"  ÷ {ref.contender}", *(
                _ratio(c.value(result), c.value(ref)) if c.ratio else "" for c in columns)])
    return table(rows, [False, *(c.ratio for c in columns)])


def methods_table(results: Sequence[Result], reference: str | None) -> list[str]:
    """Telegram calls per message, by method (all calls between the first message and the
    end of the storm, 429s included)."""
    totals: dict[str, int] = {}
    for result in results:
        for method, n in result.figures.calls_by_method.items():
            totals[method] = totals.get(method, 0) + n
    methods = sorted(totals, key=lambda m: -totals[m])
    columns = [Column(m, _per_message(m)) for m in methods]
    return contender_table(results, columns, reference)


def _per_message(method: str) -> Callable[[Result], Value]:
    def value(r: Result) -> Value:
        return round(r.figures.calls_by_method.get(method, 0) / max(1, r.figures.injected), 2)

    return value


def failures(results: Sequence[Result]) -> list[str]:
    lines = []
    for result in results:
        if result.failure is None:
            continue
        lines.append(f"FAILED {result.contender}: {result.failure} "
                     f"(exit code {result.returncode}{', SIGKILL' if result.killed else ''})")
        lines.extend(f"    {line}" for line in result.output_tail)
    return lines
