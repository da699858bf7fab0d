"""The SQLite backend: the library's recorder, extended with TRIS's tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from tris.domain.proofs.chain import link_batch
from tris.storage import idempotency, key_owners
from tris.storage.hashes import INSERT_EVENT_HASH, SELECT_PREVIOUS_HASH
from tris.storage.schema import STALE_READ, TRIS_TABLES


class TrisSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, also writing idempotency records in the same transaction."""

    # The highest position given to a save of this process (its transaction may still
    # roll back: a catch-up then reads the log, which is only slower).
    given_out = 0

    def construct_create_table_statements(self) -> list[str]:
        """The library's table plus TRIS's own."""
        return [*super().construct_create_table_statements(), *TRIS_TABLES]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        if positions:
            self.given_out = max(self.given_out, *positions)
        for aggregate_id, version in kwargs.get("read_versions", ()):
            c.execute(
                f"SELECT 1 FROM {self.events_table_name} "  # noqa: S608 - the library's name
                "WHERE originator_id=? AND originator_version>? LIMIT 1",
                (aggregate_id.hex, version),
            )
            if c.fetchone() is not None:
                raise sqlite3.IntegrityError(STALE_READ)
        # An aggregate's new events follow a stored version (state kept in a process can
        # never be ahead of the store, say after a restore, without this noticing).
        first: dict[Any, int] = {}
        for event in stored_events:
            first.setdefault(event.originator_id, event.originator_version)
        for aggregate_id, version in first.items():
            if version > 1:
                c.execute(
                    f"SELECT 1 FROM {self.events_table_name} "  # noqa: S608 - the library's name
                    "WHERE originator_id=? AND originator_version=?",
                    (UUID(str(aggregate_id)).hex, version - 1),
                )
                if c.fetchone() is None:
                    raise sqlite3.IntegrityError(STALE_READ)
        record: idempotency.IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            c.execute(idempotency.INSERT.replace("%s", "?"), idempotency.insert_params(record))
        claims: Sequence[key_owners.KeyClaim] = kwargs.get("key_claims", ())
        if claims:
            c.executemany(key_owners.INSERT.replace("%s", "?"), claims)

        # The chain is read and extended after the events' insert has taken the write lock.
        def previous(aggregate_id: str, version: int) -> str | None:
            c.execute(SELECT_PREVIOUS_HASH.replace("%s", "?"), (aggregate_id, version))
            row = c.fetchone()
            return None if row is None else str(row[0])

        rows = link_batch(stored_events, previous)
        c.executemany(INSERT_EVENT_HASH.replace("%s", "?"), rows)
        return positions
