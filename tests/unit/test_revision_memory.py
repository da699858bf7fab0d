"""The read model's memory of parsed revisions is bounded by bytes, not only by count."""

from __future__ import annotations

import json
from typing import Any

from tris.application.readmodels.agreements.revisions import Revisions
from tris.domain.values import Content, Terms


class RecordingCursor:
    """Keeps what is inserted and answers the one SELECT the memory falls back to."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], tuple[str, str]] = {}
        self.selects = 0
        self._row: tuple[str, str] | None = None

    def execute(self, sql: str, params: Any = ()) -> None:
        if sql.startswith("INSERT"):
            self.rows[(params[0], params[1])] = (params[2], params[3])
        else:
            self.selects += 1
            self._row = self.rows[(params[0], params[1])]

    def executemany(self, sql: str, params: list[Any]) -> None:
        for one in params:
            self.execute(sql, one)

    def fetchone(self) -> tuple[str, str] | None:
        return self._row


def content(size: int) -> Content:
    return Content.from_dict(
        {
            "title": "Kiezküche",
            "purpose": "x" * size,
            "parties": ["a", "b"],
            "terms": Terms("ohne Geld").to_dict(),
            "commitments": [
                {
                    "id": "C1",
                    "debtor": "a",
                    "beneficiary": "b",
                    "kind": "time",
                    "quantity": "1",
                    "unit": "hours",
                    "description": "Kochen",
                    "due_on": None,
                }
            ],
        }
    )


def test_the_memory_keeps_no_more_bytes_than_its_bound() -> None:
    memory = Revisions(max_bytes=5_000)
    cur = RecordingCursor()
    for number in range(1, 6):
        memory.add(cur, "agreement", number, content(2_000), {})
        assert memory.remembered_bytes <= 5_000
    # The newest two fit; the oldest was forgotten and is read back from the table.
    memory.get(cur, "agreement", 5)
    assert cur.selects == 0
    revision, _ = memory.get(cur, "agreement", 1)
    assert cur.selects == 1
    assert revision.purpose == "x" * 2_000
    assert json.loads(cur.rows[("agreement", 1)][0])["purpose"] == "x" * 2_000
    assert memory.remembered_bytes <= 5_000
