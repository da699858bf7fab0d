"""A scratch copy of the read models, where a rebuild applies events at in-process speed.

Rebuilding event by event against the store costs a few statements per event, each a
round trip on PostgreSQL. The stage is a private SQLite file with the same tables: the
projections apply the whole log to it with their usual code, and the result is written to
the store at once (COPY on PostgreSQL), tables and tracking positions in one transaction.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from tris.storage.cursors import Cursor, SQLiteAdapter


class StagedTables(Protocol):
    """What a stage needs of a read model: the DDL of its tables and their names."""

    tables: Sequence[str]
    indexes: Sequence[str]

    def table_names(self) -> list[str]:
        """The names of its tables."""
        ...


class Stage:
    """The projections' tables in a scratch SQLite file, removed on close."""

    def __init__(self, projections: Sequence[StagedTables]) -> None:
        self.projections = list(projections)
        self._directory = Path(tempfile.mkdtemp(prefix="tris-rebuild-"))
        # Nothing here needs to survive a crash: the store keeps what was written to it.
        self._conn = sqlite3.connect(self._directory / "stage.db", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages, then the file
        for projection in self.projections:
            for ddl in (*projection.tables, *projection.indexes):
                self._conn.execute(ddl)
        self.columns = {
            table: [row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")]
            for projection in self.projections
            for table in projection.table_names()
        }

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop the scratch file."""
        self._conn.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def batch(self) -> _Batch:
        """A transaction on the stage (applying a page of events in one is much faster)."""
        return _Batch(self._conn)

    def load(self, source: Cursor) -> None:
        """Fill the stage with the store's read-model rows (resuming a rebuild)."""
        with self.batch() as cur:
            for table, columns in self.columns.items():
                names = ", ".join(columns)
                source.execute(f"SELECT {names} FROM {table}")  # noqa: S608 - our own DDL
                cur.write_rows(table, columns, source.fetchall())

    def write(self, target: Cursor) -> int:
        """Replace the store's read-model rows with the stage's; return the rows written."""
        written = 0
        for table, columns in self.columns.items():
            target.execute(f"DELETE FROM {table}")  # noqa: S608 - our own DDL
            rows = self._rows(table, columns)
            counted = _Counted(rows)
            target.write_rows(table, columns, counted)
            written += counted.count
        return written

    def _rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        names = ", ".join(columns)
        yield from self._conn.execute(f"SELECT {names} FROM {table}")  # noqa: S608


class _Batch:
    """`with stage.batch() as cur:` — one stage transaction, committed on success."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> Cursor:
        self._conn.execute("BEGIN")
        return SQLiteAdapter(self._conn.cursor())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _Counted:
    """Passes rows through and counts them."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._rows:
            self.count += 1
            yield row
