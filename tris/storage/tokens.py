"""The gateway of `tris_tokens`: API tokens, stored only as hashes of their secrets."""

from __future__ import annotations

from dataclasses import dataclass

from tris.storage.database import Database
from tris.storage.idempotency import IdempotencyRecord, IdempotencyRecords

TABLE = """CREATE TABLE IF NOT EXISTS tris_tokens (
        token_id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        party_id TEXT,
        label TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT)"""

_INSERT = (
    "INSERT INTO tris_tokens (token_id, token_hash, role, party_id, label, created_at) "
    "VALUES (%s, %s, %s, %s, %s, CURRENT_TIMESTAMP)"
)


@dataclass(frozen=True)
class TokenRow:
    """One token as stored: never its secret, only the hash of it."""

    token_id: str
    role: str
    party_id: str | None
    label: str | None
    created_at: str
    revoked: bool


class TokenRows:
    """The only SQL on `tris_tokens`."""

    def __init__(self, database: Database, idempotency: IdempotencyRecords | None = None) -> None:
        self.database = database
        self.idempotency = idempotency or IdempotencyRecords(database)

    def insert(
        self,
        row: tuple[str, str, str, str | None, str | None],
        record: IdempotencyRecord | None = None,
    ) -> None:
        """Keep a token (id, secret hash, role, party, label), with the idempotency record
        of its issue in the same transaction when given (IntegrityError on a clash)."""
        with self.database.transaction() as cur:
            cur.execute(_INSERT, row)
            if record is not None:
                self.idempotency.save(record, cur)

    def active(self, token_hash: str) -> tuple[str, str, str | None] | None:
        """(token id, role, party id) of the unrevoked token with this secret hash."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT token_id, role, party_id FROM tris_tokens "
                "WHERE token_hash=%s AND revoked_at IS NULL",
                (token_hash,),
            )
            row = cur.fetchone()
        return None if row is None else (str(row[0]), str(row[1]), row[2])

    def is_active(self, token_id: str) -> bool:
        """True when a token with this id exists and is not revoked."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT 1 FROM tris_tokens WHERE token_id=%s AND revoked_at IS NULL", (token_id,)
            )
            return cur.fetchone() is not None

    def revoke(self, token_id: str) -> bool:
        """Mark a token revoked (a revoked one stays so); False when the id is unknown."""
        with self.database.transaction() as cur:
            cur.execute(
                "UPDATE tris_tokens SET revoked_at=CURRENT_TIMESTAMP "
                "WHERE token_id=%s AND revoked_at IS NULL",
                (token_id,),
            )
            if cur.rowcount != 0:
                return True
            cur.execute("SELECT 1 FROM tris_tokens WHERE token_id=%s", (token_id,))
            return cur.fetchone() is not None

    def page(self, after: tuple[str, str] | None, limit: int) -> list[TokenRow]:
        """Up to `limit` tokens after (created_at, token_id), oldest first."""
        where = "" if after is None else "WHERE (created_at, token_id) > (%s, %s) "
        with self.database.read() as cur:
            cur.execute(
                "SELECT token_id, role, party_id, label, created_at, revoked_at "  # noqa: S608
                f"FROM tris_tokens {where}ORDER BY created_at, token_id LIMIT %s",
                (*(after or ()), limit),
            )
            rows = cur.fetchall()
        return [TokenRow(r[0], r[1], r[2], r[3], str(r[4]), r[5] is not None) for r in rows]

    def all(self) -> list[TokenRow]:
        """Every token, oldest first."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT token_id, role, party_id, label, created_at, revoked_at "
                "FROM tris_tokens ORDER BY created_at, token_id"
            )
            rows = cur.fetchall()
        return [TokenRow(r[0], r[1], r[2], r[3], str(r[4]), r[5] is not None) for r in rows]
