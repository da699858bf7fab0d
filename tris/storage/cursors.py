"""Cursors with one face on both backends: `%s` placeholders, tuple rows, bulk writes."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Protocol, Self

import psycopg
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from tris.storage.errors import StorageError


class Cursor(Protocol):
    """The part of a DB-API cursor TRIS uses."""

    # Whether the database adds decimal strings exactly (PostgreSQL's `numeric`): a read
    # model may then add to a stored sum in SQL instead of reading it back (SQLite's
    # arithmetic is binary floating point: its sums are added in Python).
    exact_sums: bool

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any:
        """Run one statement."""

    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> None:
        """Run one statement for each set of parameters (one round trip on PostgreSQL)."""

    def fetchall(self) -> list[Any]:
        """All remaining rows."""

    def fetchone(self) -> Any:
        """The next row or None."""

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""

    def write_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        fresh: bool = False,
    ) -> None:
        """Insert many rows into a table at once (COPY on PostgreSQL).

        `fresh`: the table was created in this transaction, so PostgreSQL may write the
        rows frozen (`COPY … FREEZE`): no later vacuum or first read rewrites their pages.
        """


class SQLiteAdapter:
    """Presents a SQLite cursor with `%s` placeholders and tuple rows."""

    exact_sums = False

    def __init__(self, cursor: SQLiteCursor | sqlite3.Cursor) -> None:
        self._c = cursor

    def execute(self, sql: Any, params: Sequence[Any] = (), /) -> Any:
        return self._c.execute(_qmark(str(sql)), tuple(params))

    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> None:
        raw: Any = getattr(self._c, "sqlite_cursor", self._c)
        raw.executemany(_qmark(str(sql)), (tuple(p) for p in params))

    @property
    def rowcount(self) -> int:
        raw: Any = getattr(self._c, "sqlite_cursor", self._c)
        return int(raw.rowcount)

    def fetchall(self) -> list[Any]:
        return [tuple(r) for r in self._c.fetchall()]

    def fetchone(self) -> Any:
        row = self._c.fetchone()
        return None if row is None else tuple(row)

    def write_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        fresh: bool = False,
    ) -> None:
        raw: Any = getattr(self._c, "sqlite_cursor", self._c)
        marks = ", ".join("?" for _ in columns)
        raw.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            (tuple(row) for row in rows),
        )


class PostgresAdapter:
    """Presents a psycopg dict-row cursor with tuple rows."""

    exact_sums = True

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._c = cursor

    def execute(self, sql: Any, params: Sequence[Any] = (), /) -> Any:
        return self._c.execute(sql, tuple(params))

    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> None:
        self._c.executemany(sql, [tuple(p) for p in params])

    @property
    def rowcount(self) -> int:
        return int(self._c.rowcount)

    def fetchall(self) -> list[Any]:
        return [_as_tuple(r) for r in self._c.fetchall()]

    def fetchone(self) -> Any:
        row = self._c.fetchone()
        return None if row is None else _as_tuple(row)

    def write_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        fresh: bool = False,
    ) -> None:
        statement = SQL("COPY {} ({}) FROM STDIN{}").format(
            Identifier(table),
            SQL(", ").join(Identifier(c) for c in columns),
            SQL(" WITH (FREEZE)" if fresh else ""),
        )
        with self._c.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class _NeedsAnswerError(StorageError):
    """A `RecordingCursor` was asked for an answer (a row, a count) or a COPY: the
    statements depend on what the database holds, so they cannot be written down now and
    sent later (the caller applies the events the usual way; never seen by a client)."""


class RecordingCursor:
    """A cursor that only writes down what it is given (statement and parameters), to be
    sent later in one round trip with other statements; a read raises `_NeedsAnswerError`."""

    exact_sums = True  # its statements go to PostgreSQL

    def __init__(self) -> None:
        self.statements: list[tuple[Any, tuple[Any, ...]]] = []

    def execute(self, sql: Any, params: Sequence[Any] = (), /) -> Any:
        self.statements.append((sql, tuple(params)))

    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> None:
        self.statements.extend((sql, tuple(p)) for p in params)

    @property
    def rowcount(self) -> int:
        raise _NeedsAnswerError("rowcount")

    def fetchall(self) -> list[Any]:
        raise _NeedsAnswerError("fetchall")

    def fetchone(self) -> Any:
        raise _NeedsAnswerError("fetchone")

    def write_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        fresh: bool = False,
    ) -> None:
        raise _NeedsAnswerError("COPY")  # no COPY in a pipeline


@functools.lru_cache(maxsize=1024)
def _qmark(sql: str) -> str:
    """A statement with SQLite's placeholders (statements repeat: converted once each)."""
    return sql.replace("%s", "?")


def _as_tuple(row: Any) -> tuple[Any, ...]:
    """A row as a tuple (TRIS's own cursors make tuples; the library's make dicts)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


@contextmanager
def postgres_read(datastore: PostgresDatastore) -> Iterator[Cursor]:
    """A PostgreSQL cursor in autocommit mode, one snapshot per statement."""
    # The library's pool hands out connections in autocommit mode; its transactions are
    # explicit `conn.transaction()` blocks.
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        yield PostgresAdapter(curs)


@contextmanager
def sqlite_read(datastore: SQLiteDatastore) -> Iterator[Cursor]:
    """A SQLite cursor that reads without taking the write lock."""
    with datastore.transaction(commit=False) as c:
        yield SQLiteAdapter(c)


@contextmanager
def implicit_transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Statements in pipeline mode on an autocommit connection, without BEGIN or COMMIT:
    those up to the pipeline's sync are one transaction (the extended protocol's implicit
    transaction), committed at the sync and rolled back whole when one of them fails.

    Unlike `PipelinedTransaction`, a failure needs no ROLLBACK statement afterwards — and
    psycopg forgets every prepared statement of a connection that rolls back (and has the
    server deallocate them), which at a refused optimistic claim of the read models (ADR
    30) made every statement of the next batches be parsed and planned again. An
    exception raised in the block itself sends ROLLBACK before the sync: nothing of the
    block commits.
    """
    rolled_back = False
    try:
        with conn.pipeline(), conn.cursor() as closing:
            try:
                yield
            except BaseException:
                if not (conn.closed or conn.broken):
                    with contextlib.suppress(psycopg.Error):
                        closing.execute(b"ROLLBACK")
                        rolled_back = True
                raise
    finally:
        if rolled_back:
            forget_prepared(conn)


def forget_prepared(conn: psycopg.Connection[Any]) -> None:
    """Have psycopg deallocate now what a ROLLBACK sent in a pipeline made it forget.

    psycopg forgets a connection's prepared statements when a ROLLBACK's answer arrives
    (at the pipeline's sync), and has the server deallocate them at the end of the
    connection's next statement — after that statement was itself prepared (the store
    prepares every statement at its first run, `PREPARE_THRESHOLD`), under a name the
    deallocation then drops: every later run of it on that connection would fail
    ("prepared statement … does not exist"). One statement never prepared runs the
    deallocation at once. Call it after the pipeline has ended.
    """
    if not (conn.closed or conn.broken):
        with contextlib.suppress(psycopg.Error):
            conn.execute(b"SELECT 1", prepare=False)


class PipelinedTransaction:
    """A transaction whose BEGIN, statements and COMMIT go out together in pipeline mode
    on an autocommit connection, with one sync at the end: one round trip, unless the
    block reads a result before its end (a read waits for what was sent before it).

    psycopg's `transaction()` inside a pipeline syncs as it begins and twice as it ends
    (nested pipelines): three or four round trips for one short transaction (measured:
    0.75 ms against 0.40 ms for two inserts, COMMIT and a query). Use as a context
    manager; `commit` sends COMMIT (else the block's end does), and statements sent
    after it run on their own (autocommit). A failed statement leaves the transaction
    open and aborted at the sync, an exception in the block leaves it open: either way it
    is rolled back, then the error raised. `committed` says, once the block has ended,
    whether COMMIT succeeded — also when a statement sent after it failed.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._closing: psycopg.Cursor[Any] | None = None
        self._block: AbstractContextManager[Self] | None = None
        self.committed = False

    def __enter__(self) -> Self:
        self._block = self._pipelined()
        return self._block.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._block is not None
        return self._block.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        """Send COMMIT (its answer comes with the rest)."""
        if self._closing is None:
            self._closing = self._conn.cursor()
            self._closing.execute(b"COMMIT")

    @contextmanager
    def _pipelined(self) -> Iterator[Self]:
        try:
            with self._conn.cursor() as opening, self._conn.pipeline():
                opening.execute(b"BEGIN")
                yield self
                self.commit()
            self.committed = True
        except BaseException:
            closing = self._closing
            self.committed = closing is not None and closing.statusmessage == "COMMIT"
            if not self.committed:
                _roll_back(self._conn)
            raise
        finally:
            if self._closing is not None:
                self._closing.close()


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a transaction left open by a failure, without hiding the failure."""
    if conn.closed or conn.broken:
        return
    with contextlib.suppress(psycopg.Error):
        conn.rollback()
