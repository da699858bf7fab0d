"""The database of TRIS as the application layer sees it: TRIS's own SQL on either backend.

TRIS keeps everything in one database: the event log (the library's table), and beside
it the idempotency records written in the same transaction as the events they produced,
the hash chain, the tokens and the read models. `Database` runs TRIS's own SQL on either
backend with one placeholder style (`%s`); the gateways hold the SQL of each TRIS table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.rows import tuple_row

from tris.storage.cursors import (
    Cursor,
    PostgresAdapter,
    SQLiteAdapter,
    implicit_transaction,
    postgres_read,
    sqlite_read,
)


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
                yield PostgresAdapter(curs)

    @contextmanager
    def pipelined(self) -> Iterator[Cursor]:
        """PostgreSQL: a transaction whose statements go out without waiting for each
        other's answers (pipeline mode), committed at the pipeline's sync
        (`implicit_transaction`); reading a result waits for what was sent before it. An
        error surfaces at the next read or at the end, not at the statement that caused
        it, and leaves nothing of the transaction behind."""
        assert isinstance(self._datastore, PostgresDatastore)
        with (
            self._datastore.get_connection() as conn,
            implicit_transaction(conn),
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            yield PostgresAdapter(curs)

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A cursor whose statements all see one snapshot of the database."""
        if isinstance(self._datastore, SQLiteDatastore):
            with sqlite_read(self._datastore) as cur:
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
            return sqlite_read(self._datastore)
        assert isinstance(self._datastore, PostgresDatastore)
        return postgres_read(self._datastore)

    def positions(
        self, originator_id: UUID, versions: tuple[int, int] | None = None
    ) -> dict[int, int]:
        """Global log positions of an aggregate's events, by aggregate version (in the
        inclusive range of `versions` when given)."""
        table = getattr(self.recorder, "events_table_name", "stored_events")
        # The column that holds the global position differs by recorder.
        column = getattr(self.recorder, "position_column", "notification_id")
        key = str(originator_id)
        if self.backend == "sqlite":
            column, key = "rowid", originator_id.hex
        within = "" if versions is None else " AND originator_version BETWEEN %s AND %s"
        statement = (
            f"SELECT originator_version, {column} FROM {table} "  # noqa: S608
            f"WHERE originator_id=%s{within}"
        )
        with self.read() as cur:
            cur.execute(statement, (key, *(versions or ())))
            return {int(r[0]): int(r[1]) for r in cur.fetchall() if r[1] is not None}

    def event_range(self, originator_id: UUID, first: int, last: int) -> list[StoredEvent]:
        """An aggregate's stored events from version `first` to `last`, in order."""
        table = getattr(self.recorder, "events_table_name", "stored_events")
        key = originator_id.hex if self.backend == "sqlite" else str(originator_id)
        statement = (
            f"SELECT originator_version, topic, state FROM {table} "  # noqa: S608
            "WHERE originator_id=%s AND originator_version BETWEEN %s AND %s "
            "ORDER BY originator_version"
        )
        with self.read() as cur:
            cur.execute(statement, (key, first, last))
            return _stored_events(originator_id, cur.fetchall())

    def aggregate_ids(self) -> set[str]:
        """Every aggregate id in the event table, as dashed UUID strings."""
        table = getattr(self.recorder, "events_table_name", "stored_events")
        with self.read() as cur:
            cur.execute(f"SELECT DISTINCT originator_id FROM {table}")  # noqa: S608
            return {str(UUID(str(row[0]))) for row in cur.fetchall()}

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

    def all_states(self, table: str) -> list[bytes]:
        """The state of every record of an event or snapshot table (a one-time scan)."""
        with self.read() as cur:
            cur.execute(f"SELECT state FROM {table}")  # noqa: S608
            return [bytes(row[0]) for row in cur.fetchall()]

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
