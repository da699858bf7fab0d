"""Field-level differences between two revision contents."""

from __future__ import annotations

from typing import Any

from tris.domain.values import Content

_COMMITMENT_FIELDS = ("debtor", "beneficiary", "kind", "quantity", "unit", "description", "due_on")


def content_diff(before: Content, after: Content) -> list[dict[str, Any]]:
    """Each changed field as {path, change, before, after}; commitments matched by id."""
    old, new = before.to_dict(), after.to_dict()
    changes: list[dict[str, Any]] = []

    def changed(path: str, a: Any, b: Any) -> None:
        if a != b:
            changes.append({"path": path, "change": "changed", "before": a, "after": b})

    changed("title", old["title"], new["title"])
    changed("purpose", old["purpose"], new["purpose"])
    for party in old["parties"]:
        if party not in new["parties"]:
            changes.append({"path": "parties", "change": "removed", "before": party, "after": None})
    for party in new["parties"]:
        if party not in old["parties"]:
            changes.append({"path": "parties", "change": "added", "before": None, "after": party})
    for field in ("text", "starts_on", "ends_on"):
        changed(f"terms.{field}", old["terms"][field], new["terms"][field])
    # As the parties read it: content that never said is restricted.
    changed("publication", before.publication or "restricted", after.publication or "restricted")
    old_items = {c["id"]: c for c in old["commitments"]}
    new_items = {c["id"]: c for c in new["commitments"]}
    for cid, item in old_items.items():
        if cid not in new_items:
            changes.append(
                {"path": f"commitments[{cid}]", "change": "removed", "before": item, "after": None}
            )
    for cid, item in new_items.items():
        if cid not in old_items:
            changes.append(
                {"path": f"commitments[{cid}]", "change": "added", "before": None, "after": item}
            )
            continue
        for field in _COMMITMENT_FIELDS:
            changed(f"commitments[{cid}].{field}", old_items[cid][field], item[field])
    return changes
