"""The gateway of `tris_idempotency`: the first answer to a POST with an Idempotency-Key.

A record is written in the same transaction as the events the request produced (the
recorders call `insert`), or alone for a request that produced none (a token issue).
Records are kept for a bounded time (`TRIS_IDEMPOTENCY_TTL_SECONDS`): an older one is
neither found nor kept. The fingerprint of the request is an HMAC under a key derived from
the server key (computed by the caller), so the table alone confirms no guessed body.
"""

from __future__ import annotations

import json
import time
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


# A fingerprint no request has: what erasure leaves where a request carried the person.
FORGOTTEN = "forgotten"

DEFAULT_TTL_SECONDS = 86_400


def _older_than(backend: str) -> str:
    """SQL true for a record created more than %s seconds ago, on either backend."""
    if backend == "postgres":
        return "created_at::timestamptz < now() - make_interval(secs => %s)"
    return "created_at < datetime('now', '-' || %s || ' seconds')"


class IdempotencyRecords:
    """Finds and keeps idempotency records, for `ttl_seconds` each."""

    def __init__(self, database: Database, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self.database = database
        self.ttl_seconds = ttl_seconds
        self._last_purge = 0.0

    def find(self, token_id: str, key: str) -> IdempotencyRecord | None:
        """The stored first response for (token, key), if any and not expired."""
        expired = _older_than(self.database.backend)
        with self.database.read() as cur:
            cur.execute(
                f"SELECT fingerprint, status, body, {expired} FROM tris_idempotency "  # noqa: S608
                "WHERE token_id=%s AND idem_key=%s",
                (self.ttl_seconds, token_id, key),
            )
            row = cur.fetchone()
        if row is None:
            return None
        if row[3]:
            return None
        return IdempotencyRecord(token_id, key, row[0], int(row[1]), json.loads(row[2]))

    def drop_expired(self, token_id: str, key: str) -> bool:
        """Delete the record of (token, key) if it expired; True when one was deleted."""
        with self.database.transaction() as cur:
            cur.execute(
                "DELETE FROM tris_idempotency "  # noqa: S608
                f"WHERE token_id=%s AND idem_key=%s AND {_older_than(self.database.backend)}",
                (token_id, key, self.ttl_seconds),
            )
            return bool(cur.rowcount)

    def purge_expired(self, *, every: float = 60.0) -> int:
        """Delete every expired record (at most once per `every` seconds per process)."""
        now = time.monotonic()
        if now - self._last_purge < every:
            return 0
        self._last_purge = now
        with self.database.transaction() as cur:
            cur.execute(
                f"DELETE FROM tris_idempotency WHERE {_older_than(self.database.backend)}",  # noqa: S608
                (self.ttl_seconds,),
            )
            return int(cur.rowcount or 0)

    @staticmethod
    def forget_answers(cur: Cursor, body: Any) -> None:
        """Make the records whose kept answer is `body` confirm nothing: their fingerprint
        is replaced (a retry with the key then answers 422, never runs again)."""
        cur.execute(
            "UPDATE tris_idempotency SET fingerprint=%s WHERE body=%s",
            (FORGOTTEN, json.dumps(body, sort_keys=True, separators=(",", ":"))),
        )

    def save(self, record: IdempotencyRecord, cur: Cursor | None = None) -> None:
        """Keep a response that produced no events (for example a token issue), in the
        caller's transaction when given its cursor."""
        if cur is not None:
            cur.execute(INSERT, insert_params(record))
            return
        with self.database.transaction() as own:
            own.execute(INSERT, insert_params(record))
