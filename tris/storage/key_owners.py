"""The gateway of `tris_key_owners`: which party registered each signing public key.

A public key speaks for one party only. The recorders write a row for every key an event
registers, in the events' own transaction (`INSERT`), so two parties registering one key
at the same moment cannot both commit: the second insert breaks the primary key and its
whole transaction, events included, rolls back. Keys registered before this table existed
are claimed by `claim`, from the log, in the order they were registered (the first party
keeps the key); `scanned_up_to` remembers how far that scan has read.
"""

from __future__ import annotations

from collections.abc import Iterable

from tris.storage.database import Database

TABLE = """CREATE TABLE IF NOT EXISTS tris_key_owners (
        public_key TEXT PRIMARY KEY,
        party_id TEXT NOT NULL)"""

SCAN_TABLE = """CREATE TABLE IF NOT EXISTS tris_key_owners_scan (
        id INTEGER PRIMARY KEY,
        position BIGINT NOT NULL)"""

TABLES = [TABLE, SCAN_TABLE]

INSERT = "INSERT INTO tris_key_owners (public_key, party_id) VALUES (%s, %s)"
_CLAIM = INSERT + " ON CONFLICT (public_key) DO NOTHING"

# (hex of the raw public key, party id)
KeyClaim = tuple[str, str]


class KeyOwners:
    """Reads who registered a key; claims the keys of older events."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def owner(self, public_key: bytes) -> str | None:
        """The party that registered this raw public key, if any."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT party_id FROM tris_key_owners WHERE public_key=%s", (public_key.hex(),)
            )
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def scanned_up_to(self) -> int:
        """The log position up to which older events' keys have been claimed."""
        with self.database.read() as cur:
            cur.execute("SELECT position FROM tris_key_owners_scan WHERE id=1")
            row = cur.fetchone()
        return 0 if row is None else int(row[0])

    def claim(self, claims: Iterable[KeyClaim], up_to: int) -> None:
        """Claim keys found in the log (the first claim of a key stands), up to `up_to`."""
        with self.database.transaction() as cur:
            for claim in claims:
                cur.execute(_CLAIM, claim)
            # Processes starting together may scan at once: the furthest position stands.
            cur.execute(
                "INSERT INTO tris_key_owners_scan (id, position) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET position = excluded.position "
                "WHERE tris_key_owners_scan.position < excluded.position",
                (up_to,),
            )
