"""The gateway of `tris_event_hashes`: each event's chain hash, written with the event.

The recorders write a row per event in the events' own transaction (INSERT_EVENT_HASH,
SELECT_PREVIOUS_HASH); everyone else reads the rows through `EventHashes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tris.storage.database import Database

TABLE = """CREATE TABLE IF NOT EXISTS tris_event_hashes (
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        PRIMARY KEY (originator_id, originator_version))"""

SELECT_PREVIOUS_HASH = (
    "SELECT hash FROM tris_event_hashes WHERE originator_id=%s AND originator_version=%s"
)
INSERT_EVENT_HASH = (
    "INSERT INTO tris_event_hashes (originator_id, originator_version, hash, prev_hash) "
    "VALUES (%s, %s, %s, %s)"
)

EventKey = tuple[str, int]


class EventHashes:
    """Reads the recorded chain hashes."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def of(self, keys: Sequence[EventKey]) -> dict[EventKey, str]:
        """The recorded hash of each (dashed aggregate id, version) given."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        rows = ", ".join(["(%s, %s)"] * len(unique))
        with self.database.read() as cur:
            cur.execute(
                "SELECT originator_id, originator_version, hash FROM tris_event_hashes "  # noqa: S608
                f"WHERE (originator_id, originator_version) IN (VALUES {rows})",
                [part for key in unique for part in key],
            )
            return {(str(r[0]), int(r[1])): str(r[2]) for r in cur.fetchall()}

    def chain(
        self, aggregate_id: str, versions: tuple[int, int] | None = None
    ) -> dict[int, tuple[str, str]]:
        """(hash, prev_hash) recorded for each version of one aggregate (in the inclusive
        range of `versions` when given)."""
        within, bounds = _within(versions)
        with self.database.read() as cur:
            cur.execute(
                "SELECT originator_version, hash, prev_hash FROM tris_event_hashes "  # noqa: S608
                f"WHERE originator_id=%s{within}",
                (aggregate_id, *bounds),
            )
            return {int(r[0]): (str(r[1]), str(r[2])) for r in cur.fetchall()}

    def aggregate_ids(self) -> set[str]:
        """Every aggregate id with a recorded hash."""
        with self.database.read() as cur:
            cur.execute("SELECT DISTINCT originator_id FROM tris_event_hashes")
            return {str(row[0]) for row in cur.fetchall()}


def _within(versions: tuple[int, int] | None) -> tuple[str, tuple[int, ...]]:
    """The SQL condition (and its parameters) of an inclusive range of versions."""
    if versions is None:
        return "", ()
    return " AND originator_version BETWEEN %s AND %s", versions
