"""Every revision's content and its parties' sectors, as the other agreement tables need them."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from tris.domain.values import Content
from tris.storage.cursors import Cursor

# Revisions kept parsed (the most recently used), so that conclusions and amendments need
# not read and parse them again.
REMEMBERED_REVISIONS = 10_000

TABLE = """CREATE TABLE IF NOT EXISTS rm_revisions (
            agreement_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            content TEXT NOT NULL,
            sectors TEXT NOT NULL,
            PRIMARY KEY (agreement_id, number))"""

Revision = tuple[Content, dict[str, str]]


class Revisions:
    """Writes `rm_revisions` and reads it back through a bounded memory of parsed revisions."""

    def __init__(self) -> None:
        self._remembered: OrderedDict[tuple[str, int], Revision] = OrderedDict()

    def add(
        self,
        cur: Cursor,
        agreement_id: str,
        number: int,
        content: Content,
        sectors: Mapping[str, Any],
    ) -> None:
        """Keep a new revision (its sectors by party, as Sector values)."""
        plain = {p: s.value for p, s in sectors.items()}
        self._remember(agreement_id, number, content, plain)
        cur.execute(
            "INSERT INTO rm_revisions (agreement_id, number, content, sectors) "
            "VALUES (%s, %s, %s, %s)",
            (
                agreement_id,
                number,
                json.dumps(content.to_dict(), sort_keys=True),
                json.dumps(plain, sort_keys=True),
            ),
        )

    def get(self, cur: Cursor, agreement_id: str, number: int) -> Revision:
        """A revision's content and sectors: remembered, else read from `rm_revisions`.

        A revision never changes once proposed (its event is immutable), so remembering it
        is safe across transactions, rolled back ones included, and across processes.
        """
        remembered = self._remembered.get((agreement_id, number))
        if remembered is not None:
            self._remembered.move_to_end((agreement_id, number))
            return remembered
        cur.execute(
            "SELECT content, sectors FROM rm_revisions WHERE agreement_id=%s AND number=%s",
            (agreement_id, number),
        )
        row = cur.fetchone()
        content, sectors = Content.from_dict(json.loads(row[0])), json.loads(row[1])
        self._remember(agreement_id, number, content, sectors)
        return content, sectors

    def _remember(
        self, agreement_id: str, number: int, content: Content, sectors: dict[str, str]
    ) -> None:
        self._remembered[(agreement_id, number)] = (content, sectors)
        if len(self._remembered) > REMEMBERED_REVISIONS:
            self._remembered.popitem(last=False)
