"""The PostgreSQL backend: pooled sessions that fail fast, and the library's recorder
extended with TRIS's tables and the hash chain written in the events' transaction."""

from __future__ import annotations

import inspect
import select
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from tris.domain.proofs.chain import link_batch
from tris.storage import idempotency, key_owners
from tris.storage.cursors import PostgresAdapter
from tris.storage.hashes import INSERT_EVENT_HASH, SELECT_PREVIOUS_HASH
from tris.storage.schema import STALE_READ, TRIS_TABLES, schema_is_current

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
# Every statement is prepared the first time a connection runs it (psycopg's default
# prepares it at its sixth run). psycopg takes a statement that reaches its threshold for
# prepared without checking that the server created it: when that statement comes after
# a failed one in a pipeline (a refused claim of the read models, a wrong guess of
# positions), the server skips it, psycopg still takes it for prepared, and every later
# run of it on that connection fails ("prepared statement _pg3_N does not exist") until a
# ROLLBACK makes psycopg forget them all. A statement prepared at its first run is
# checked. (A ROLLBACK sent in a pipeline needs `cursors.forget_prepared` after it.)
PREPARE_THRESHOLD = 0


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
            pool.kwargs["prepare_threshold"] = PREPARE_THRESHOLD
        pool.reconnect_timeout = RECONNECT_TIMEOUT
        # The pool's check on every check-out, without a round trip (ADR 7): the library's
        # pre-ping costs an empty query each time, about a quarter of a command's statements.
        pool._check = pool_check(pool)
        super().__init__(datastore, **kwargs)
        self.chain_heads = ChainHeads()
        self.sql_create_statements.extend(SQL(s).format() for s in TRIS_TABLES)
        # One index lookup per aggregate read (a join's plan, made while the table was
        # small, scans it whole).
        self._stale_read_sql = SQL(
            "SELECT 1 FROM unnest(%s::uuid[], %s::bigint[]) AS r(id, v) "
            "WHERE (SELECT max(e.originator_version) FROM {t} AS e WHERE e.originator_id = r.id) "
            "> r.v LIMIT 1"
        ).format(t=Identifier(self.datastore.schema, self.events_table_name))

    def _create_table(self, curs: psycopg.Cursor[DictRow]) -> None:
        """Create the tables in one transaction under the schema lock, unless they exist."""
        statements = [statement.as_string(curs) for statement in self.sql_create_statements]
        if not schema_is_current(PostgresAdapter(curs), "postgres", statements):
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
        record: idempotency.IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            curs.execute(SQL(idempotency.INSERT), idempotency.insert_params(record))
        claims: Sequence[key_owners.KeyClaim] = kwargs.get("key_claims", ())
        if claims:
            curs.executemany(SQL(key_owners.INSERT), claims)
        reads: Sequence[tuple[UUID, int]] = kwargs.get("read_versions", ())
        if reads:
            ids, versions = [i for i, _ in reads], [v for _, v in reads]
            curs.execute(self._stale_read_sql, (ids, versions))
            if curs.fetchone() is not None:
                raise psycopg.IntegrityError(STALE_READ)

        rows = self._chain(curs, stored_events)
        if rows:
            curs.executemany(SQL(INSERT_EVENT_HASH), rows)
        self.chain_heads.written(rows)

    def _chain(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> list[tuple[str, int, str, str]]:
        """The hash-chain rows of new events, reading a previous hash in the writing
        transaction only when this process did not commit it last (`ChainHeads`)."""

        def previous(aggregate_id: str, version: int) -> str | None:
            known = self.chain_heads.get(aggregate_id, version)
            if known is not None:
                return known
            curs.execute(SQL(SELECT_PREVIOUS_HASH), (aggregate_id, version))
            row = curs.fetchone()
            return None if row is None else str(row["hash"])

        return link_batch(stored_events, previous)


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

    def take(self) -> list[tuple[str, int, str, str]]:
        """The rows this thread wrote since the last call, forgotten here (a save in a
        shared transaction keeps its own until the transaction commits)."""
        rows: list[tuple[str, int, str, str]] = getattr(self._pending, "rows", [])
        self._pending.rows = []
        return rows

    def committed(self, rows: Sequence[tuple[str, int, str, str]] | None = None) -> None:
        """A transaction committed: its rows' hashes (this thread's pending rows unless
        given) are the new heads."""
        if rows is None:
            rows = self.take()
        with self._lock:
            for aggregate_id, version, digest, _ in rows:
                head = self._heads.get(aggregate_id)
                if head is None or head[0] < version:
                    self._heads[aggregate_id] = (version, digest)
                    self._heads.move_to_end(aggregate_id)
            while len(self._heads) > self._size:
                self._heads.popitem(last=False)
