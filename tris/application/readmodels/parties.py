"""The parties read model: public details for listing and the region filter."""

from __future__ import annotations

from typing import Any

from tris.application.readmodels.base import Projection
from tris.domain.party import Party
from tris.storage.cursors import Cursor


class PartiesProjection(Projection):
    """Parties' public details, for listing and for the region filter."""

    name = "parties"
    schema_version = 1
    tables = (
        """CREATE TABLE IF NOT EXISTS rm_parties (
            party_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            name TEXT NOT NULL,
            sector TEXT NOT NULL,
            region TEXT,
            active BOOLEAN NOT NULL,
            created_at TEXT NOT NULL)""",
    )
    indexes = (
        "CREATE INDEX IF NOT EXISTS rm_parties_seq ON rm_parties (seq)",
        "CREATE INDEX IF NOT EXISTS rm_parties_region ON rm_parties (region)",
    )
    digest_queries = (
        "SELECT party_id, name, sector, region, active, created_at FROM rm_parties "
        "ORDER BY seq, party_id",
    )

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply a Party event; other events are ignored (most of a log is agreements':
        looked at by name, without matching each against every case below)."""
        if not type(event).__qualname__.startswith("Party."):
            return
        party_id = str(event.originator_id)
        match event:
            case Party.Registered():
                details = event.details
                cur.execute(
                    "INSERT INTO rm_parties (party_id, seq, name, sector, region, active, "
                    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        party_id,
                        position,
                        details.name,
                        details.sector.value,
                        details.region,
                        True,
                        event.timestamp.isoformat(),
                    ),
                )
            case Party.DetailsUpdated():
                details = event.details
                cur.execute(
                    "UPDATE rm_parties SET name=%s, sector=%s, region=%s WHERE party_id=%s",
                    (details.name, details.sector.value, details.region, party_id),
                )
            case Party.Deactivated():
                cur.execute("UPDATE rm_parties SET active=%s WHERE party_id=%s", (False, party_id))
