"""TRIS's schema beside the library's: every table's DDL, created under one lock.

Each gateway owns its table's DDL; this module gathers them for the recorders, which
create them with the event table, and serialises schema changes between processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tris.storage import hashes, idempotency, key_owners, merkle_log, tokens
from tris.storage.cursors import Cursor

TRIS_TABLES = [
    idempotency.TABLE,
    *tokens.TABLES,
    hashes.TABLE,
    *merkle_log.TABLES,
    *key_owners.TABLES,
]

# The advisory lock under which processes create or alter TRIS's schema, one at a time:
# several processes starting together would otherwise deadlock on concurrent DDL.
SCHEMA_LOCK = 0x7472697300000002  # "tris" + 2


SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS tris_schema (digest TEXT PRIMARY KEY)"


def serialise_schema_changes(cur: Cursor, backend: str) -> None:
    """Hold the schema lock until the current transaction ends (PostgreSQL only)."""
    if backend == "postgres":
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))


def schema_is_current(cur: Cursor, backend: str, statements: Sequence[str]) -> bool:
    """Take the schema lock; True when these very statements have run before.

    A process starting beside running ones must not repeat DDL that is already in place:
    `ALTER TABLE … IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS` lock the table even when
    they change nothing, and they deadlock with the writers. Recorded in the same
    transaction as the statements, so it is true only once they have all committed.
    """
    if backend != "postgres":
        return False
    serialise_schema_changes(cur, backend)
    cur.execute(SCHEMA_TABLE)
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    cur.execute("SELECT digest FROM tris_schema WHERE digest=%s", (digest,))
    if cur.fetchone() is not None:
        return True
    cur.execute("INSERT INTO tris_schema (digest) VALUES (%s)", (digest,))
    return False


# Why a save was refused when an aggregate its command read (and did not change) has
# changed since this process last saw it (ADR 25: the aggregate cache).
STALE_READ = "an aggregate the command read has changed since"
