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

# How many revocations were ever made: one row, counted up in each revocation's own
# transaction. A process that read the count in the same statement as a token trusts the
# token for as long as the count it sees now is no higher (ADR 14, amended).
REVOCATIONS_TABLE = """CREATE TABLE IF NOT EXISTS tris_token_revocations (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revoked BIGINT NOT NULL)"""
TABLES = [TABLE, REVOCATIONS_TABLE]
# No row yet: no revocation was counted (tokens revoked before the count began are found
# revoked by every lookup).
_REVOCATIONS = "COALESCE((SELECT revoked FROM tris_token_revocations WHERE id = 1), 0)"
_COUNT_REVOCATION = (
    "INSERT INTO tris_token_revocations (id, revoked) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET revoked = tris_token_revocations.revoked + 1"
)

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

    def active(self, token_hash: str) -> tuple[str, str, str | None, int] | None:
        """(token id, role, party id, revocations) of the unrevoked token with this secret
        hash: `revocations` is how many revocations had been made when it was read (one
        statement, one snapshot)."""
        with self.database.read() as cur:
            cur.execute(
                f"SELECT token_id, role, party_id, {_REVOCATIONS} FROM tris_tokens "  # noqa: S608
                "WHERE token_hash=%s AND revoked_at IS NULL",
                (token_hash,),
            )
            row = cur.fetchone()
        return None if row is None else (str(row[0]), str(row[1]), row[2], int(row[3]))

    def revocations(self) -> int:
        """How many revocations have been made so far (it only ever grows)."""
        with self.database.read() as cur:
            cur.execute(f"SELECT {_REVOCATIONS}")
            row = cur.fetchone()
        return int(row[0])

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
                cur.execute(_COUNT_REVOCATION)
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
