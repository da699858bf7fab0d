"""The SQLite backend: the library's recorder, extended with TRIS's tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from tris.domain.proofs.chain import link_batch
from tris.storage import idempotency, key_owners
from tris.storage.hashes import INSERT_EVENT_HASH, SELECT_PREVIOUS_HASH
from tris.storage.log_part import LogPart, Tally
from tris.storage.schema import STALE_READ, TRIS_TABLES


class TrisSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, also writing idempotency records in the same transaction."""

    # The highest position given to a save of this process (its transaction may still
    # roll back: a catch-up then reads the log, which is only slower).
    given_out = 0

    def select_part(
        self,
        after: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        part: LogPart | None = None,
    ) -> Sequence[Notification]:
        """The library's `select_notifications` after a position, of one part of the log
        only (`part`)."""
        statement = f"SELECT rowid, * FROM {self.events_table_name} WHERE rowid>? "  # noqa: S608
        params: list[Any] = [after]
        if stop is not None:
            statement += "AND rowid<=? "
            params.append(stop)
        if topics:
            statement += f"AND topic IN ({','.join('?' * len(topics))}) "
            params += list(topics)
        if part is not None:
            if part.topics:
                # The originator's last byte: the last two of the 32 hex digits kept,
                # compared as text (same width, lower case).
                marks = ",".join("?" * len(part.topics))
                chosen = f"(topic IN ({marks}) AND lower(substr(originator_id, -2)) < ?)"
                params += [*part.topics, f"{part.below:02x}"]
            else:
                chosen = "0"  # `IN ()` is not SQLite's: with no topics nothing is chosen
            statement += f"AND {chosen} " if part.inside else f"AND NOT {chosen} "
        statement += "ORDER BY rowid LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [
                Notification(
                    id=row["rowid"],
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            ]

    def tallies_up_to(self, stop: int) -> dict[tuple[str, int], Tally]:
        """The events up to a position, counted by topic and the last byte of their
        originator's id (the last two of the 32 hex digits SQLite keeps)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT topic, lower(substr(originator_id, -2)) AS byte, COUNT(*) AS n, "  # noqa: S608
                f"SUM(rowid) AS total FROM {self.events_table_name} WHERE rowid<=? "
                "GROUP BY topic, byte",
                (stop,),
            )
            return {
                (row["topic"], int(row["byte"], 16)): Tally(row["n"], row["total"])
                for row in c.fetchall()
            }

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
