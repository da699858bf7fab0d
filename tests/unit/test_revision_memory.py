"""The read models' memories of facts: bounded by count, the revisions' also by bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tris.application.readmodels.agreements.revisions import Revisions
from tris.application.readmodels.base import NewRows, Remembered
from tris.domain.values import Content, Sector, Terms


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


def test_a_revision_is_stored_as_json_with_sorted_keys_that_reads_back_as_written() -> None:
    memory = Revisions()
    cur = RecordingCursor()
    written = replace(content(10), purpose="Zeile 1\nZeile 2\t\\ \u2028 Café 😀")
    memory.add(cur, "agreement", 1, written, {"b": Sector.BUSINESS, "a": Sector.STATE})
    memory.write_new(cur)
    text, sectors = cur.rows[("agreement", 1)]
    assert json.loads(text) == written.to_dict()
    assert list(json.loads(text)) == sorted(written.to_dict())
    assert sectors == '{"a":"state","b":"business"}'
    assert Revisions().get(cur, "agreement", 1) == (written, {"a": "state", "b": "business"})


def test_text_orjson_refuses_is_stored_as_json_all_the_same() -> None:
    # A lone surrogate: the domain refuses it now, an old event may hold it.
    memory = Revisions()
    cur = RecordingCursor()
    written = replace(content(10), title="Kiez \udc80")
    memory.add(cur, "agreement", 1, written, {})
    memory.add(cur, "agreement", 2, written, {})
    memory.write_new(cur)
    first, second = cur.rows[("agreement", 1)][0], cur.rows[("agreement", 2)][0]
    assert first == second  # the same content, the same text, in any process
    assert json.loads(first)["title"] == "Kiez \udc80"
    assert Revisions().get(cur, "agreement", 1)[0] == written


def test_remembered_facts_drop_the_least_recently_used_beyond_either_bound() -> None:
    by_count: Remembered[str, int] = Remembered(limit=2)
    for key, fact in (("a", 1), ("b", 2)):
        by_count.put(key, fact)
    assert by_count.get("a") == 1  # used: "b" is now the least recently used
    by_count.put("c", 3)
    assert (by_count.get("a"), by_count.get("b"), by_count.get("c")) == (1, None, 3)

    by_bytes: Remembered[str, str] = Remembered(limit=100, max_bytes=10)
    by_bytes.put("x", "first", 6)
    by_bytes.put("x", "again", 6)  # the same key replaced, not counted twice
    assert by_bytes.bytes == 6
    by_bytes.put("y", "second", 6)
    assert (by_bytes.get("x"), by_bytes.get("y"), by_bytes.bytes) == (None, "second", 6)


def test_rows_not_kept_are_taken_and_those_kept_stay_until_taken_by_key() -> None:
    rows = NewRows()
    rows.add("held", ("held", 1))
    rows.add("old", ("old", 2))
    assert rows.take_unkept(keep={"held"}) == [("old", 2)]
    # Nothing new since: the held entity's rows are not looked at again, nor taken.
    assert rows.take_unkept(keep={"held"}) == []
    rows.add("old", ("old", 3))
    rows.add("other", ("other", 1))
    assert rows.take_unkept(keep={"held"}) == [("old", 3), ("other", 1)]
    # A held entity leaves `keep` by having its rows taken by key; later rows of it are
    # taken as any other's.
    assert rows.take(["held"]) == [("held", 1)]
    rows.add("held", ("held", 2))
    assert rows.take_unkept(keep=set()) == [("held", 2)]
    assert rows.take() == []


def test_rows_cleared_or_taken_whole_are_not_taken_again() -> None:
    rows = NewRows()
    rows.add("a", ("a", 1))
    rows.clear()
    assert rows.take_unkept(keep=set()) == []
    rows.add("b", ("b", 1))
    assert rows.take() == [("b", 1)]
    assert rows.take_unkept(keep=set()) == []
