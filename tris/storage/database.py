"""The two storage backends: the library's recorders, extended with TRIS's own tables.

TRIS keeps everything in one database: the event log (the library's table), and beside
it the idempotency records that are written in the same transaction as the events they
produced, and the tables of tokens and read models. `Database` runs TRIS's own SQL on
either backend with one placeholder style (`%s`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import select
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from tris.config import parse_database_url
from tris.domain.proofs.chain import link_batch
from tris.storage.hashes import (
    INSERT_EVENT_HASH,
    INTEGRITY_TABLES,
    SELECT_PREVIOUS_HASH,
)


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first response to a POST with an Idempotency-Key, kept with its events."""

    token_id: str
    key: str
    fingerprint: str
    status: int
    body: Any


class Cursor(Protocol):
    """The part of a DB-API cursor TRIS uses."""

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any:
        """Run one statement."""

    def fetchall(self) -> list[Any]:
        """All remaining rows."""

    def fetchone(self) -> Any:
        """The next row or None."""

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into a table at once (COPY on PostgreSQL)."""


TRIS_TABLES = [
    """CREATE TABLE IF NOT EXISTS tris_idempotency (
        token_id TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (token_id, idem_key))""",
    """CREATE TABLE IF NOT EXISTS tris_tokens (
        token_id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        party_id TEXT,
        label TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT)""",
    *INTEGRITY_TABLES,
]

_INSERT_IDEMPOTENCY = (
    "INSERT INTO tris_idempotency (token_id, idem_key, fingerprint, status, body, created_at) "
    "VALUES (%s, %s, %s, %s, %s, CURRENT_TIMESTAMP)"
)


def _idempotency_params(record: IdempotencyRecord) -> tuple[Any, ...]:
    return (
        record.token_id,
        record.key,
        record.fingerprint,
        record.status,
        json.dumps(record.body, sort_keys=True, separators=(",", ":")),
    )


class TrisSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, also writing idempotency records in the same transaction."""

    def construct_create_table_statements(self) -> list[str]:
        """The library's table plus TRIS's own."""
        return [*super().construct_create_table_statements(), *TRIS_TABLES]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            c.execute(_INSERT_IDEMPOTENCY.replace("%s", "?"), _idempotency_params(record))

        # The chain is read and extended after the events' insert has taken the write lock.
        def previous(aggregate_id: str, version: int) -> str | None:
            c.execute(SELECT_PREVIOUS_HASH.replace("%s", "?"), (aggregate_id, version))
            row = c.fetchone()
            return None if row is None else str(row[0])

        rows = link_batch(stored_events, previous)
        c.executemany(INSERT_EVENT_HASH.replace("%s", "?"), rows)
        return positions


# Connections per process: POOL_SIZE kept open, up to POOL_SIZE + POOL_OVERFLOW under load.
POOL_SIZE = 4
POOL_OVERFLOW = 6
# Seconds to connect, and to wait for a free pooled connection, before a request fails (503).
CONNECT_TIMEOUT = 10
# Every session bounds its statements and its lock waits, so no request waits for ever.
SESSION_OPTIONS = "-c statement_timeout=30s -c lock_timeout=10s"
# A pool gives up a failing reconnection after this long; the next request starts a fresh
# one at once, so a restarted database is used again within a request, not after a backoff.
RECONNECT_TIMEOUT = 2.0
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


def closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """True when the server closed this idle connection; no round trip.

    A healthy idle connection has nothing to read. When PostgreSQL stops or restarts, or
    an administrator terminates the backend, the server sends a last message and closes
    the socket, which makes it readable.
    """
    if conn.closed or conn.broken:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def pool_check(pool: ConnectionPool[Any]) -> Callable[[psycopg.Connection[Any]], None]:
    """The check a pool runs on every check-out: refuse a connection the server closed.

    The library's pre-ping would cost an empty query on every check-out, about a quarter
    of a command's statements. A closed connection is discarded (the pool opens a new one)
    instead of failing the request that drew it; and since a restart closes all of them,
    the other idle connections are swept at once, so the pool does not back off between
    one dead connection and the next.
    """

    def check(conn: psycopg.Connection[Any]) -> None:
        if not closed_by_server(conn):
            return
        conn.close()
        pool.check()
        raise psycopg.OperationalError("the server closed the pooled connection")

    return check


class TrisPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, also writing idempotency records in one transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        # Before the library's constructor, which opens the pool's first connections.
        pool = datastore.pool
        if isinstance(pool.kwargs, dict):
            pool.kwargs["options"] = SESSION_OPTIONS
        pool.reconnect_timeout = RECONNECT_TIMEOUT
        # The pool's check on every check-out, without a round trip (ADR 7): the library's
        # pre-ping costs an empty query each time, about a quarter of a command's statements.
        pool._check = pool_check(pool)
        super().__init__(datastore, **kwargs)
        self.chain_heads = ChainHeads()
        self.sql_create_statements.extend(SQL(s).format() for s in TRIS_TABLES)

    def _create_table(self, curs: psycopg.Cursor[DictRow]) -> None:
        """Create the tables in one transaction under the schema lock, unless they exist."""
        statements = [statement.as_string(curs) for statement in self.sql_create_statements]
        if not schema_is_current(_PostgresAdapter(curs), "postgres", statements):
            super()._create_table(curs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """An aggregate's events, in one attempt.

        The library retries reads ten times, each waiting for a pooled connection: while
        the database is down a request would wait a minute. One attempt fails in seconds
        and the client, told 503 and Retry-After, decides.
        """
        select: Any = inspect.unwrap(PostgresApplicationRecorder.select_events)
        events: Sequence[StoredEvent] = select(
            self, originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return events

    def _insert_events(
        self,
        curs: psycopg.Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            curs.execute(SQL(_INSERT_IDEMPOTENCY), _idempotency_params(record))

        # Inside the library's pipeline: fetching a previous hash forces a sync, and a
        # clash on the hash table's key surfaces as the library's IntegrityError.
        def previous(aggregate_id: str, version: int) -> str | None:
            known = self.chain_heads.get(aggregate_id, version)
            if known is not None:
                return known
            curs.execute(SQL(SELECT_PREVIOUS_HASH), (aggregate_id, version))
            row = curs.fetchone()
            return None if row is None else str(row["hash"])

        rows = link_batch(stored_events, previous)
        if rows:
            curs.executemany(SQL(INSERT_EVENT_HASH), rows)
        self.chain_heads.written(rows)


class ChainHeads:
    """The hash of the last event this process committed for each recent aggregate.

    A hash, once committed for (aggregate, version), never changes, so a command that
    extends an aggregate this process wrote last needs no read of its previous hash.
    Rows computed in a transaction count only once the caller says it committed.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._heads: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._pending = threading.local()

    def get(self, aggregate_id: str, version: int) -> str | None:
        """The committed hash of that version, when it is the last one this process wrote."""
        with self._lock:
            head = self._heads.get(aggregate_id)
        return head[1] if head is not None and head[0] == version else None

    def written(self, rows: Sequence[tuple[str, int, str, str]]) -> None:
        """Rows (aggregate, version, hash, prev) written by this thread's open transaction."""
        self._pending.rows = list(rows)

    def discard(self) -> None:
        """Forget what this thread wrote in a transaction that did not commit."""
        self._pending.rows = []

    def committed(self) -> None:
        """This thread's transaction committed: its rows' hashes are the new heads."""
        rows: list[tuple[str, int, str, str]] = getattr(self._pending, "rows", [])
        self._pending.rows = []
        with self._lock:
            for aggregate_id, version, digest, _ in rows:
                head = self._heads.get(aggregate_id)
                if head is None or head[0] < version:
                    self._heads[aggregate_id] = (version, digest)
                    self._heads.move_to_end(aggregate_id)
            while len(self._heads) > self._size:
                self._heads.popitem(last=False)


def eventsourcing_env(database_url: str) -> dict[str, str]:
    """The library's environment variables for a TRIS database URL."""
    backend, parts = parse_database_url(database_url)
    if backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": "tris.storage.database:TrisSQLiteRecorder",
            "SQLITE_DBNAME": parts["path"],
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "tris.storage.postgres_parallel:ParallelPostgresRecorder",
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"],
        "POSTGRES_PORT": parts["port"],
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"],
        "POSTGRES_POOL_SIZE": str(POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": str(POOL_OVERFLOW),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
    }


class Database:
    """Runs TRIS's own SQL (with `%s` placeholders) on the recorder's database."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        datastore = getattr(recorder, "datastore", None)
        if isinstance(datastore, SQLiteDatastore):
            self.backend = "sqlite"
        elif isinstance(datastore, PostgresDatastore):
            self.backend = "postgres"
        else:
            raise TypeError(f"unsupported recorder {type(recorder).__name__}")
        self._datastore = datastore

    def sql(self, statement: str) -> str:
        """Adapt a statement's placeholders to the backend."""
        return statement.replace("%s", "?") if self.backend == "sqlite" else statement

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor in one committed-on-success transaction."""
        if isinstance(self._datastore, SQLiteDatastore):
            with self._datastore.transaction(commit=True) as c:
                yield SQLiteAdapter(c)
        else:
            assert isinstance(self._datastore, PostgresDatastore)
            with self._datastore.transaction(commit=True) as curs:
                curs.row_factory = tuple_row  # type: ignore[assignment]
                yield _PostgresAdapter(curs)

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A cursor whose statements all see one snapshot of the database."""
        if isinstance(self._datastore, SQLiteDatastore):
            with _sqlite_read(self._datastore) as cur:
                yield cur
        else:
            with self.transaction() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur

    def read(self) -> AbstractContextManager[Cursor]:
        """A cursor for reading (SQLite readers do not take the write lock).

        On PostgreSQL each statement runs on its own (autocommit): at READ COMMITTED every
        statement sees its own snapshot inside a transaction too, so nothing is lost, and
        a read costs one round trip instead of three (BEGIN, the statement, COMMIT).
        """
        if isinstance(self._datastore, SQLiteDatastore):
            return _sqlite_read(self._datastore)
        assert isinstance(self._datastore, PostgresDatastore)
        return _postgres_read(self._datastore)

    def positions(self, originator_id: UUID) -> dict[int, int]:
        """Global log positions of an aggregate's events, by aggregate version."""
        table = getattr(self.recorder, "events_table_name", "stored_events")
        # The column that holds the global position differs by recorder.
        column = getattr(self.recorder, "position_column", "notification_id")
        key = str(originator_id)
        if self.backend == "sqlite":
            column, key = "rowid", originator_id.hex
        statement = (
            f"SELECT originator_version, {column} FROM {table} "  # noqa: S608
            "WHERE originator_id=%s"
        )
        with self.read() as cur:
            cur.execute(statement, (key,))
            return {int(r[0]): int(r[1]) for r in cur.fetchall() if r[1] is not None}

    def aggregate_records(
        self, originator_id: UUID, snapshots_table: str | None, *, lte: int | None = None
    ) -> list[StoredEvent]:
        """What rebuilds an aggregate, in one statement: its latest snapshot (at or below
        `lte`) and the events after it, in version order."""
        events_table = getattr(self.recorder, "events_table_name", "stored_events")
        key: Any = originator_id.hex if self.backend == "sqlite" else originator_id
        upto = "" if lte is None else " AND originator_version<=%s"
        bound: tuple[Any, ...] = () if lte is None else (lte,)
        if snapshots_table is None:
            statement = (
                "SELECT 1, originator_version, topic, state "  # noqa: S608
                f"FROM {events_table} WHERE originator_id=%s{upto} ORDER BY originator_version"
            )
            params: tuple[Any, ...] = (key, *bound)
        else:
            statement = (
                "WITH snap AS (SELECT originator_version, topic, state "  # noqa: S608
                f"FROM {snapshots_table} WHERE originator_id=%s{upto} "
                "ORDER BY originator_version DESC LIMIT 1) "
                "SELECT 0 AS part, originator_version, topic, state FROM snap "
                "UNION ALL "
                f"SELECT 1, originator_version, topic, state FROM {events_table} "
                "WHERE originator_id=%s AND originator_version > "
                f"COALESCE((SELECT originator_version FROM snap), 0){upto} "
                "ORDER BY 1, 2"
            )
            params = (key, *bound, key, *bound)
        with self.read() as cur:
            cur.execute(statement, params)
            return _stored_events(originator_id, [row[1:] for row in cur.fetchall()])

    def stored_events(
        self, originator_id: UUID, topics: Sequence[str], *, lte: int
    ) -> list[StoredEvent]:
        """An aggregate's stored events of the given topics up to a version, in order."""
        table = getattr(self.recorder, "events_table_name", "stored_events")
        key = originator_id.hex if self.backend == "sqlite" else str(originator_id)
        marks = ", ".join(["%s"] * len(topics))
        statement = (
            f"SELECT originator_version, topic, state FROM {table} "  # noqa: S608
            f"WHERE originator_id=%s AND originator_version<=%s AND topic IN ({marks}) "
            "ORDER BY originator_version"
        )
        with self.read() as cur:
            cur.execute(statement, (key, lte, *topics))
            return _stored_events(originator_id, cur.fetchall())

    def find_idempotency(self, token_id: str, key: str) -> IdempotencyRecord | None:
        """The stored first response for (token, key), if any."""
        with self.read() as cur:
            cur.execute(
                "SELECT fingerprint, status, body FROM tris_idempotency "
                "WHERE token_id=%s AND idem_key=%s",
                (token_id, key),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return IdempotencyRecord(token_id, key, row[0], int(row[1]), json.loads(row[2]))

    def save_idempotency(self, record: IdempotencyRecord, cur: Cursor | None = None) -> None:
        """Keep a response that produced no events (for example a token issue), in the
        caller's transaction when given its cursor."""
        if cur is not None:
            cur.execute(_INSERT_IDEMPOTENCY, _idempotency_params(record))
            return
        with self.transaction() as own:
            own.execute(_INSERT_IDEMPOTENCY, _idempotency_params(record))


class SQLiteAdapter:
    """Presents a SQLite cursor with `%s` placeholders and tuple rows."""

    def __init__(self, cursor: SQLiteCursor | sqlite3.Cursor) -> None:
        self._c = cursor

    def execute(self, sql: Any, params: Sequence[Any] = (), /) -> Any:
        return self._c.execute(_qmark(str(sql)), tuple(params))

    @property
    def rowcount(self) -> int:
        raw: Any = getattr(self._c, "sqlite_cursor", self._c)
        return int(raw.rowcount)

    def fetchall(self) -> list[Any]:
        return [tuple(r) for r in self._c.fetchall()]

    def fetchone(self) -> Any:
        row = self._c.fetchone()
        return None if row is None else tuple(row)

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        raw: Any = getattr(self._c, "sqlite_cursor", self._c)
        marks = ", ".join("?" for _ in columns)
        raw.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            (tuple(row) for row in rows),
        )


class _PostgresAdapter:
    """Presents a psycopg dict-row cursor with tuple rows."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._c = cursor

    def execute(self, sql: Any, params: Sequence[Any] = (), /) -> Any:
        return self._c.execute(sql, tuple(params))

    @property
    def rowcount(self) -> int:
        return int(self._c.rowcount)

    def fetchall(self) -> list[Any]:
        return [_as_tuple(r) for r in self._c.fetchall()]

    def fetchone(self) -> Any:
        row = self._c.fetchone()
        return None if row is None else _as_tuple(row)

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        statement = SQL("COPY {} ({}) FROM STDIN").format(
            Identifier(table), SQL(", ").join(Identifier(c) for c in columns)
        )
        with self._c.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _stored_events(originator_id: UUID, rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    """Rows of (originator_version, topic, state) as the library's stored events."""
    return [
        StoredEvent(
            originator_id=originator_id,
            originator_version=int(version),
            topic=str(topic),
            state=bytes(state),
        )
        for version, topic, state in rows
    ]


@functools.lru_cache(maxsize=1024)
def _qmark(sql: str) -> str:
    """A statement with SQLite's placeholders (statements repeat: converted once each)."""
    return sql.replace("%s", "?")


def _as_tuple(row: Any) -> tuple[Any, ...]:
    """A row as a tuple (TRIS's own cursors make tuples; the library's make dicts)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


@contextmanager
def _postgres_read(datastore: PostgresDatastore) -> Iterator[Cursor]:
    # The library's pool hands out connections in autocommit mode; its transactions are
    # explicit `conn.transaction()` blocks.
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        yield _PostgresAdapter(curs)


@contextmanager
def _sqlite_read(datastore: SQLiteDatastore) -> Iterator[Cursor]:
    with datastore.transaction(commit=False) as c:
        yield SQLiteAdapter(c)
