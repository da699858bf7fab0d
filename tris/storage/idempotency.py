"""The gateway of `tris_idempotency`: the first answer to a POST with an Idempotency-Key.

A record is written in the same transaction as the events the request produced (the
recorders call `insert`), or alone for a request that produced none (a token issue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tris.storage.cursors import Cursor
from tris.storage.database import Database

TABLE = """CREATE TABLE IF NOT EXISTS tris_idempotency (
        token_id TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (token_id, idem_key))"""

INSERT = (
    "INSERT INTO tris_idempotency (token_id, idem_key, fingerprint, status, body, created_at) "
    "VALUES (%s, %s, %s, %s, %s, CURRENT_TIMESTAMP)"
)


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first response to a POST with an Idempotency-Key, kept with its events."""

    token_id: str
    key: str
    fingerprint: str
    status: int
    body: Any


def insert_params(record: IdempotencyRecord) -> tuple[Any, ...]:
    """The parameters of INSERT for one record."""
    return (
        record.token_id,
        record.key,
        record.fingerprint,
        record.status,
        json.dumps(record.body, sort_keys=True, separators=(",", ":")),
    )


class IdempotencyRecords:
    """Finds and keeps idempotency records."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def find(self, token_id: str, key: str) -> IdempotencyRecord | None:
        """The stored first response for (token, key), if any."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT fingerprint, status, body FROM tris_idempotency "
                "WHERE token_id=%s AND idem_key=%s",
                (token_id, key),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return IdempotencyRecord(token_id, key, row[0], int(row[1]), json.loads(row[2]))

    def save(self, record: IdempotencyRecord, cur: Cursor | None = None) -> None:
        """Keep a response that produced no events (for example a token issue), in the
        caller's transaction when given its cursor."""
        if cur is not None:
            cur.execute(INSERT, insert_params(record))
            return
        with self.database.transaction() as own:
            own.execute(INSERT, insert_params(record))
