"""Every revision's content and its parties' sectors, as the other agreement tables need them."""

from __future__ import annotations

import json
from collections.abc import Collection, Container, Mapping
from typing import Any

import orjson

from tris.application.readmodels.base import NewRows, Remembered
from tris.domain.values import Content
from tris.storage.cursors import Cursor

# Revisions kept parsed (the most recently used), so that conclusions and amendments need
# not read and parse them again: at most this many, and at most this many bytes of content
# (as JSON; the parsed objects take a small multiple of it), whichever bound comes first.
REMEMBERED_REVISIONS = 10_000
REMEMBERED_BYTES = 32 * 1024 * 1024

TABLE = """CREATE TABLE IF NOT EXISTS rm_revisions (
            agreement_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            content TEXT NOT NULL,
            sectors TEXT NOT NULL,
            PRIMARY KEY (agreement_id, number))"""

DIGEST_QUERIES = (
    "SELECT agreement_id, number, content, sectors FROM rm_revisions ORDER BY agreement_id, number",
)

Revision = tuple[Content, dict[str, str]]


class Revisions:
    """Writes `rm_revisions` and reads it back through a bounded memory of parsed revisions."""

    def __init__(self, max_bytes: int = REMEMBERED_BYTES) -> None:
        self._remembered: Remembered[tuple[str, int], Revision] = Remembered(
            REMEMBERED_REVISIONS, max_bytes
        )
        # New revisions' rows by agreement, written together by `write_new` (before any
        # read of the table in the batch, and at its end).
        self._new = NewRows()

    def write_new(self, cur: Cursor, agreements: Collection[str] | None = None) -> None:
        """Write the revisions added since they were last written: of `agreements`, or all
        when None."""
        self._insert(cur, self._new.take(agreements))

    def write_unkept(self, cur: Cursor, keep: Container[str]) -> None:
        """Write the revisions added since the last such write except those of `keep`
        (`NewRows.take_unkept`: an agreement kept stays in `keep` until its revisions are
        written by `write_new` or taken)."""
        self._insert(cur, self._new.take_unkept(keep))

    def _insert(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            cur.executemany(
                "INSERT INTO rm_revisions (agreement_id, number, content, sectors) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )

    def take_new(self) -> list[tuple[str, int, str, str]]:
        """All new rows, in the table's column order, not to be written here (a
        rebuild's write takes them)."""
        return self._new.take(None)

    def forget_new(self) -> None:
        """The batch rolled back: nothing of it is written."""
        self._new.clear()

    def add(
        self,
        cur: Cursor,
        agreement_id: str,
        number: int,
        content: Content,
        sectors: Mapping[str, Any],
    ) -> int:
        """Keep a new revision (its sectors by party, as Sector values); its row is
        written by `write_new`. Returns the size of its content as JSON."""
        plain = {p: s.value for p, s in sectors.items()}
        text = _json(content.to_dict())
        self._remembered.put((agreement_id, number), (content, plain), len(text))
        self._new.add(agreement_id, (agreement_id, number, text, _json(plain)))
        return len(text)

    def forget(self, agreement_id: str, number: int) -> None:
        """Forget a remembered revision (it is read back when needed)."""
        self._remembered.forget((agreement_id, number))

    def get(self, cur: Cursor, agreement_id: str, number: int) -> Revision:
        """A revision's content and sectors: remembered, else read from `rm_revisions`.

        A revision never changes once proposed (its event is immutable), so remembering it
        is safe across transactions, rolled back ones included, and across processes.
        """
        remembered = self._remembered.get((agreement_id, number))
        if remembered is not None:
            return remembered
        self.write_new(cur, (agreement_id,))
        cur.execute(
            "SELECT content, sectors FROM rm_revisions WHERE agreement_id=%s AND number=%s",
            (agreement_id, number),
        )
        row = cur.fetchone()
        content, sectors = Content.from_dict(json.loads(row[0])), json.loads(row[1])
        self._remembered.put((agreement_id, number), (content, sectors), len(row[0]))
        return content, sectors

    @property
    def remembered_bytes(self) -> int:
        """The bytes of content (as JSON) of the revisions remembered."""
        return self._remembered.bytes


def _json(value: Any) -> str:
    """JSON text with sorted keys, as the table keeps it: orjson's, ten times faster than
    `json.dumps` (ADR 31). Text orjson refuses (a lone surrogate, which the domain refuses
    today but an old event might hold) is written by `json.dumps` — always the same text
    for the same content, so a rebuild writes what the live read model wrote."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, sort_keys=True)
