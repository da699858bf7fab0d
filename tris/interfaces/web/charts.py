"""What the pages draw, as plain data: bar lengths, badges, marked changes.

Every chart is drawn as SVG by its template, with the same figures in a table beside it and
each bar labelled with its value in text, so no reader depends on colour or on the drawing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def bars(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """One bar per key, its length a share (0 to 100) of the longest."""
    top = max([1, *counts.values()])
    return [
        {"key": key, "value": value, "length": round(100 * value / top, 1)}
        for key, value in counts.items()
    ]


def pairs(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Committed vs fulfilled per kind and unit: the committed bar is whole, the fulfilled
    bar its share of it."""
    drawn = []
    for row in rows:
        committed, fulfilled = _decimal(row["committed"]), _decimal(row["fulfilled"])
        share = fulfilled / committed if committed > 0 else Decimal(0)
        drawn.append(
            {
                **row,
                "share": share,
                "length": float(min(Decimal(100), 100 * share).quantize(Decimal("0.1"))),
            }
        )
    return drawn


def rates(markets: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Each market's fulfilment rate as a bar (completed ÷ concluded)."""
    drawn = []
    for market, figures in markets:
        rate = figures.get("fulfilment_rate")
        share = _decimal(rate) if rate is not None else None
        drawn.append(
            {
                "id": market["id"],
                "title": market["title"],
                "rate": rate,
                "concluded": figures.get("concluded", 0),
                "completed": figures.get("completed", 0),
                "length": 0.0 if share is None else float(min(Decimal(1), share) * 100),
            }
        )
    return drawn


def badges(view: Mapping[str, Any], verification: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The record's badges: what was checked and whether it held (None: not checked yet)."""
    found: list[dict[str, Any]] = []
    if verification is None:
        return [{"kind": "pending", "ok": None}]
    checks = verification.get("checks", [])
    chain = [c for c in checks if c["name"] == "chain"]
    signatures = [c for c in checks if str(c["name"]).startswith("signature")]
    found.append({"kind": "chain", "ok": all(c["ok"] for c in chain) and bool(chain)})
    if signatures:
        found.append(
            {"kind": "signatures", "ok": all(c["ok"] for c in signatures), "count": len(signatures)}
        )
    checkpoint = verification.get("checkpoint")
    if checkpoint is not None:
        inclusion = [c for c in checks if str(c["name"]).startswith("inclusion")]
        found.append(
            {
                "kind": "checkpoint",
                "ok": all(c["ok"] for c in inclusion),
                "tree_size": checkpoint["tree_size"],
            }
        )
    if view.get("notarised_by"):
        found.append({"kind": "notarised", "ok": True, "count": len(view["notarised_by"])})
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return str(value)


def change(item: Mapping[str, Any]) -> dict[str, Any]:
    """One field's change with both sides as text (added: no before; removed: no after)."""
    return {
        "path": item["path"],
        "change": item["change"],
        "before": _text(item.get("before")),
        "after": _text(item.get("after")),
    }


def memberships(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Memberships in the order they began."""
    return sorted(items, key=lambda m: (str(m.get("valid_from")), str(m.get("id"))))


MIXES = ("trisectoral", "bisectoral", "intrasectoral")


def months(rows: Iterable[Mapping[str, Any]], last: int = 12) -> dict[str, Any]:
    """Agreements coming into force per month, one column per sector mix (the last `last`
    months that have any), with heights as shares (0 to 100) of the tallest column."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(str(row["month"]), dict.fromkeys(MIXES, 0))[str(row["sector_mix"])] = int(
            row["count"]
        )
    shown = sorted(counts)[-last:]
    top = max([1, *(n for month in shown for n in counts[month].values())])
    return {
        "series": MIXES,
        "months": [
            {
                "month": month,
                "columns": [
                    {
                        "mix": mix,
                        "value": counts[month][mix],
                        "height": 100 * counts[month][mix] / top,
                    }
                    for mix in MIXES
                ],
            }
            for month in shown
        ],
    }
