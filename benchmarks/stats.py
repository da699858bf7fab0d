"""Pure helpers of the benchmark harness: medians, percentiles, rates, the table, the JSON."""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def median(values: Iterable[float]) -> float:
    """The median of some numbers (ValueError when there are none)."""
    data = list(values)
    if not data:
        raise ValueError("median of no values")
    return float(statistics.median(data))


def percentile(values: Iterable[float], pct: float) -> float:
    """The `pct`-th percentile by linear interpolation between closest ranks (as numpy)."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    rank = (len(data) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(data[low])
    return float(data[low] + (data[high] - data[low]) * (rank - low))


def rate(count: int, seconds: float) -> float:
    """Items per second (0 when no time passed, so a broken timer cannot divide by zero)."""
    return count / seconds if seconds > 0 else 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A value rounded for the report (None stays None)."""
    if value is None:
        return None
    return round(value, digits) if abs(value) < 1000 else round(value, 1)


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write results as sorted, indented JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(dict(results), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def format_table(rows: Sequence[tuple[str, Any, str]]) -> str:
    """A plain-text table of (key, value, note) rows, as `make bench` prints it."""
    width = max((len(key) for key, _, _ in rows), default=10)
    lines = [f"{'metric':<{width}}  {'value':>14}  note", f"{'-' * width}  {'-' * 14}  ----"]
    for key, value, note in rows:
        lines.append(f"{key:<{width}}  {_cell(value):>14}  {note}".rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "pending"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
