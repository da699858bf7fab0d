"""A scratch copy of the read models, where a rebuild applies events at in-process speed.

Rebuilding event by event against the store costs a few statements per event, each a
round trip on PostgreSQL. The stage is a private SQLite file with the same tables (and no
secondary indexes: the projections look rows up by primary key only): the projections
apply the whole log to it with their usual code, and the result replaces the store's read
models at once: tables and tracking positions change in one transaction.

On PostgreSQL (ADR 26) the rows are copied (COPY) into fresh tables without indexes, each
table's indexes are built on it once it is full (the text-search index last), and the
fresh tables then take the old ones' place and names. Loading into indexed tables costs
several times more, the trigram index most of all. The work is done in pieces (a table's
rows, each of its indexes) on two connections at once, each piece committed under the
fresh names, so that two PostgreSQL backends work. Readers see the old tables until the
swap commits, then the new ones.

A rebuild's partner process (ADR 27) keeps a stage of its own, which `merge` adds to the
first process's before anything is written (or, for a stage that takes no more events,
reads beside it when it is written). On PostgreSQL, a partner whose stage takes no more
events copies its rows into the fresh tables itself once it is done (`prefill`), while
the first process still applies its part: the first process adds its own rows to them.

Rows a projection kept in memory instead of writing them here (new agreements nothing
changed since, ADR 36) are handed to `write` and copied after the stage's own."""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from tris.storage.cursors import Cursor, SQLiteAdapter
from tris.storage.errors import ProjectionFailedError
from tris.storage.schema import serialise_schema_changes

# Rows of a stage table read at once when it is written to the store.
READ_CHUNK_ROWS = 2_000
# The fresh tables and indexes of a PostgreSQL rebuild are named after the old ones with
# this suffix until the swap.
FRESH = "__rebuilt"
# A primary key as the table's constraint (`, PRIMARY KEY (a, b)`) or a column's
# (`a TEXT PRIMARY KEY`).
_TABLE_KEY = re.compile(r",\s*PRIMARY KEY \(([^)]*)\)")
_COLUMN_KEY = re.compile(r"(\w+) \w+( PRIMARY KEY)")
# Connections filling the fresh tables and building their indexes at once: while one lane
# copies rows (Python's work as much as PostgreSQL's), the others build indexes.
LANES = 2
# A table's rows against one of its B-tree indexes, in work (`_Pieces`).
_ROWS_WEIGHT = 4
_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+) ON (\w+) (.+)", re.DOTALL)


@dataclass(frozen=True)
class _Piece:
    """A piece of a swap's work: a table's rows (created, copied, its primary key and
    statistics), or one of its indexes (`index`: name and definition)."""

    table: str
    index: tuple[str, str] | None = None


class _Pieces:
    """A swap's pieces, handed out one at a time to whichever lane asks next, the most work
    first (ADR 26).

    A table's rows are one piece (created, copied, its primary key and statistics); once
    they are committed, each of its indexes is a piece of its own (`CREATE INDEX` does not
    wait for another on the same table). One table is copied at a time: a copy is this
    process's work as much as PostgreSQL's, and two at once only take turns with Python's
    lock while the other lane could build an index. How long a piece takes is guessed
    from its table's rows: measured on the bench's log, a table's rows take about four
    times as long as one of its B-tree indexes, its trigram index ten times; a table's
    rows count with the slowest of its indexes, which can only follow them, and a table
    with a trigram index is begun first.
    """

    def __init__(
        self, rows: Mapping[str, int], indexes: Mapping[str, list[tuple[str, str]]]
    ) -> None:
        """`rows`: each table's rows (its stage's and those held beside it)."""
        self._rows = rows
        self._indexes = indexes
        # Popped from the end: a table with a trigram index last (that index is the last
        # piece to be done), then the most work.
        self._tables = sorted(rows, key=lambda t: (self._slowest(t) > 1, self._filling_work(t)))
        self._ready: list[_Piece] = []
        self._filling = 0
        self._copying = False
        self._closed = False
        self._changed = threading.Condition()

    def __iter__(self) -> Iterator[_Piece]:
        while True:
            with self._changed:
                while True:
                    if self._closed:
                        return
                    table = self._tables[-1] if self._tables and not self._copying else None
                    if self._ready and (
                        table is None or self._work(self._ready[-1]) >= self._filling_work(table)
                    ):
                        piece = self._ready.pop()
                        break
                    if table is not None:
                        piece = _Piece(self._tables.pop())
                        self._filling += 1
                        self._copying = True
                        break
                    if not self._tables and not self._filling:
                        return
                    # The next table's rows once the copy under way is done; or the
                    # indexes of a table being filled.
                    self._changed.wait()
            yield piece

    def copied(self) -> None:
        """The rows of the table being copied are out: the next table may begin."""
        with self._changed:
            self._copying = False
            self._changed.notify_all()

    def filled(self, table: str) -> None:
        """The table's rows are committed: its indexes may be built."""
        with self._changed:
            self._filling -= 1
            self._ready.extend(_Piece(table, index) for index in self._indexes[table])
            self._ready.sort(key=self._work)
            self._changed.notify_all()

    def _filling_work(self, table: str) -> int:
        """A table's rows, and the slowest of its indexes after them."""
        return self._rows[table] * (_ROWS_WEIGHT + self._slowest(table))

    def _slowest(self, table: str) -> int:
        return max((_index_weight(d) for _, d in self._indexes[table]), default=0)

    def _work(self, piece: _Piece) -> int:
        assert piece.index is not None
        return self._rows[piece.table] * _index_weight(piece.index[1])

    def close(self) -> None:
        """Hand out no more pieces (a lane failed: the rebuild's attempt is lost)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class StagedTables(Protocol):
    """What a stage needs of a read model: the DDL of its tables and their names."""

    tables: Sequence[str]
    indexes: Sequence[str]
    backend_indexes: Mapping[str, Sequence[str]]
    unanalysed: Mapping[str, Sequence[str]]

    def table_names(self) -> list[str]:
        """The names of its tables."""
        ...


class Stage:
    """The projections' tables in a scratch SQLite file, removed on close."""

    def __init__(self, projections: Sequence[StagedTables], path: Path | None = None) -> None:
        """A stage in a scratch directory of its own, removed on close; or in the file at
        `path`, which the caller owns (a partner process's stage, merged by another)."""
        self.projections = list(projections)
        self._directory: Path | None = None
        if path is None:
            self._directory = Path(tempfile.mkdtemp(prefix="tris-rebuild-"))
            path = self._directory / "stage.db"
        self._path = path
        # A partner's stage whose rows are read beside this one's (`merge`), and the
        # tables whose rows were added here instead.
        self._partner: tuple[Path, frozenset[str]] | None = None
        # Taken by a thread while it reads rows from SQLite (`_rows`).
        self._reading = threading.Lock()
        # Rows of a `write` that are not in the stage, by table (ADR 36).
        self._held: dict[str, Sequence[tuple[Any, ...]]] = {}
        # Rows a partner held apart whose stage is read beside this one (`merge`).
        self._partner_held: dict[str, Sequence[tuple[Any, ...]]] = {}
        # Fresh tables a partner filled with its rows (`prefill`): each one's OID and rows.
        self._prefilled: dict[str, tuple[int, int]] = {}
        # Nothing here needs to survive a crash: the store keeps what was written to it.
        self._conn = sqlite3.connect(self._path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages, then the file
        for projection in self.projections:
            for ddl in projection.tables:
                self._conn.execute(ddl)
        self.columns = {
            table: [row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")]
            for projection in self.projections
            for table in projection.table_names()
        }
        # Each table's columns whose statistics PostgreSQL's planner is given.
        skipped = {t: set(c) for p in self.projections for t, c in p.unanalysed.items()}
        self._analysed = {
            table: [c for c in columns if c not in skipped.get(table, ())]
            for table, columns in self.columns.items()
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
        """Drop the scratch file (unless the caller owns it)."""
        self._conn.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def partner_path(self) -> Path:
        """Where a partner process may keep its stage: removed with this one."""
        if self._directory is None:
            raise ValueError("a stage in a file of the caller's has no partner")
        return self._directory / "partner.db"

    def merge(
        self,
        path: Path,
        sums: Mapping[str, Sequence[str]],
        add: Callable[[Any, Any], Any],
        *,
        copy_rows: bool = True,
        held: Mapping[str, Sequence[tuple[Any, ...]]] | None = None,
        prefilled: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        """Add a partner's stage (same tables) to this one.

        The partner applied events of other aggregates than this stage did, so their rows
        are distinct, except in the tables of `sums`: rows with the same key there are
        one row whose named columns are added up (`add`). Without `copy_rows` only those
        are added here; the partner's other rows stay in its file and are read beside
        this stage's when it is written (for a stage that takes no more events). `held`:
        rows the partner kept in memory instead of its stage (by table, never of `sums`
        nor of the tables it prefilled), added as its stage's are: here, or beside this
        stage's when it is written.
        `prefilled`: the fresh tables the partner already filled with its rows of them
        (`prefill`: each one's OID and rows), which are written to them, only without
        `copy_rows`.
        """
        held = dict(held or {})
        prefilled = dict(prefilled or {})
        if prefilled and copy_rows:
            raise ValueError("a partner's prefilled tables are only for its last stage")
        if summed := sorted(set(held) & set(sums)):
            raise ValueError(f"rows held apart cannot be summed: {', '.join(summed)}")
        if copied := sorted(set(held) & set(prefilled)):
            # The partner copied its held rows into those tables with its stage's.
            raise ValueError(f"rows held apart were copied already: {', '.join(copied)}")
        self._conn.execute("ATTACH DATABASE ? AS partner", (str(path),))
        try:
            with self.batch() as cur:
                for table, columns in self.columns.items():
                    if table in sums:
                        self._merge_sums(cur, table, columns, sums[table], add)
                    elif copy_rows:
                        names = ", ".join(columns)
                        cur.execute(
                            f"INSERT INTO main.{table} ({names}) "  # noqa: S608 - our own DDL
                            f"SELECT {names} FROM partner.{table}"
                        )
                        cur.write_rows(f"main.{table}", columns, held.get(table, ()))
        except BaseException:
            self._conn.execute("DETACH DATABASE partner")
            raise
        if copy_rows:
            self._conn.execute("DETACH DATABASE partner")
        else:
            # Neither the summed tables (added here) nor the prefilled ones (written).
            self._partner = (path, frozenset(sums) | frozenset(prefilled))
            self._partner_held = held
            self._prefilled = prefilled

    def _merge_sums(
        self,
        cur: Cursor,
        table: str,
        columns: list[str],
        summed: Sequence[str],
        add: Callable[[Any, Any], Any],
    ) -> None:
        keys = [c for c in columns if c not in summed]
        names = ", ".join(columns)
        where = " AND ".join(f"{k}=%s" for k in keys)
        theirs = self._conn.execute(f"SELECT {names} FROM partner.{table}").fetchall()  # noqa: S608
        for row in theirs:
            values = dict(zip(columns, row, strict=True))
            cur.execute(
                f"SELECT {', '.join(summed)} FROM main.{table} WHERE {where}",  # noqa: S608
                [values[k] for k in keys],
            )
            mine = cur.fetchone()
            if mine is None:
                cur.write_rows(f"main.{table}", columns, [row])
                continue
            cur.execute(
                f"UPDATE main.{table} SET {', '.join(f'{c}=%s' for c in summed)} "  # noqa: S608
                f"WHERE {where}",
                [*(add(a, values[c]) for a, c in zip(mine, summed, strict=True))]
                + [values[k] for k in keys],
            )

    def prefill(
        self,
        target: Cursor,
        tables: Collection[str],
        held: Mapping[str, Sequence[tuple[Any, ...]]],
    ) -> dict[str, tuple[int, int]]:
        """A partner's last stage, on PostgreSQL: create the fresh tables of `tables` that
        it has rows for (its stage's and those it `held`), copy its rows into them, frozen,
        in `target`'s transaction; return each one's OID and rows, for the first process's
        `merge`. The caller holds the read-model batch lock, as a swap does: another
        rebuild's swap (which drops and replaces fresh tables) cannot run meanwhile."""
        ddl = self._ddl_by_table()
        filled = {}
        for table in tables:
            (staged,) = self._conn.execute(self._select(table, "COUNT(*)")).fetchone()
            kept = held.get(table, ())
            if not staged + len(kept):
                continue
            columns = self.columns[table]
            fresh = table + FRESH
            target.execute(f"DROP TABLE IF EXISTS {fresh}")
            target.execute(_fresh_table(ddl[table], table)[0])
            rows = _Counted(itertools.chain(self._rows(self._conn, table, columns), kept))
            target.write_rows(fresh, columns, rows, fresh=True)
            target.execute("SELECT %s::regclass::oid", (fresh,))
            filled[table] = (int(target.fetchone()[0]), rows.count)
        return filled

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

    def write(
        self,
        target: Cursor,
        backend: str = "sqlite",
        helper: Callable[[], AbstractContextManager[Cursor]] | None = None,
        held: Mapping[str, Sequence[tuple[Any, ...]]] | None = None,
    ) -> int:
        """Replace the store's read-model rows with the stage's and those `held` beside it
        (rows kept in memory instead of the stage, by table, in its column order); return
        the rows written.

        On PostgreSQL, `helper` opens a transaction on another connection: the fresh
        tables are filled and indexed in such transactions on `LANES` connections at once
        (without it, all in `target`'s).
        """
        self._held = dict(held or {})
        try:
            if backend == "postgres":
                return self._swap(target, helper)
            written = 0
            for table, columns in self.columns.items():
                target.execute(f"DELETE FROM {table}")  # noqa: S608 - our own DDL
                counted = _Counted(self._rows(self._conn, table, columns))
                target.write_rows(table, columns, counted)
                written += counted.count
            return written
        finally:
            self._held = {}

    def _swap(
        self, target: Cursor, helper: Callable[[], AbstractContextManager[Cursor]] | None
    ) -> int:
        """PostgreSQL: copy into fresh tables, index them, put them in the old ones' place.

        The caller holds the read-model batch lock, so no other rebuild writes meanwhile.
        The lanes' pieces are committed before the swap (fresh names nobody reads; an
        attempt that fails before its swap leaves them to the next, which replaces them).
        """
        tables = self._ddl_by_table()
        # Each table's indexes: the plain ones first, then text search (the slowest).
        indexes: dict[str, list[tuple[str, str]]] = {table: [] for table in tables}
        ddls = [ddl for projection in self.projections for ddl in projection.indexes] + [
            ddl
            for projection in self.projections
            for ddl in projection.backend_indexes.get("postgres", ())
            if ddl.startswith("CREATE INDEX")
        ]
        for ddl in ddls:
            name, table, definition = _index(ddl)
            indexes[table].append((name, definition))
        # Every lane takes the next piece when it is done with one (ADR 26): how long a
        # piece takes is only guessed, and a lane left with the last big one while the
        # others idle holds the whole swap back.
        pieces = _Pieces(self._rows_by_table(tables), indexes)
        if helper is None:  # one lane, in the swap's own transaction
            written = self._lane(lambda: nullcontext(target), pieces, tables)
        else:
            written = self._lanes(helper, pieces, tables)
        # No process may create or change the schema meanwhile (it runs DDL on these names).
        serialise_schema_changes(target, "postgres")
        for table, ddl in tables.items():
            target.execute(f"DROP TABLE {table}")
            target.execute(f"ALTER TABLE {table}{FRESH} RENAME TO {table}")
            if "PRIMARY KEY" in ddl:
                target.execute(
                    f"ALTER TABLE {table} RENAME CONSTRAINT {table}{FRESH}_pkey TO {table}_pkey"
                )
            for name, _ in indexes[table]:
                target.execute(f"ALTER INDEX {name}{FRESH} RENAME TO {name}")
        return written

    def _ddl_by_table(self) -> dict[str, str]:
        """Each read-model table's DDL, by the table's name."""
        return {
            table: ddl
            for projection in self.projections
            for table, ddl in zip(projection.table_names(), projection.tables, strict=True)
        }

    def _rows_by_table(self, tables: Mapping[str, str]) -> dict[str, int]:
        """Each table's rows: the stage's and those held beside it."""
        rows = {}
        for table in tables:
            rows[table] = sum(row[0] for row in self._conn.execute(self._select(table, "COUNT(*)")))
            rows[table] += sum(
                len(kept.get(table, ())) for kept in (self._held, self._partner_held)
            )
            rows[table] += self._prefilled.get(table, (0, 0))[1]
        return rows

    def _lanes(
        self,
        helper: Callable[[], AbstractContextManager[Cursor]],
        pieces: _Pieces,
        ddl: dict[str, str],
    ) -> int:
        """`LANES` lanes at once, each a connection of its own and a transaction a piece,
        committed (fresh names nobody reads; the swap's commit, durable, follows them)."""

        def transaction() -> Iterator[Cursor]:
            with helper() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")
                yield cur

        begin = contextmanager(transaction)
        with ThreadPoolExecutor(
            max_workers=LANES - 1, thread_name_prefix="tris-rebuild-write"
        ) as pool:
            others = [pool.submit(self._lane, begin, pieces, ddl) for _ in range(LANES - 1)]
            written = self._lane(begin, pieces, ddl)
            return written + sum(other.result() for other in others)

    def _lane(
        self,
        begin: Callable[[], AbstractContextManager[Cursor]],
        pieces: _Pieces,
        ddl: dict[str, str],
    ) -> int:
        """Take pieces and do each in a transaction of `begin`'s, until none is left;
        return the rows copied. A lane that fails stops the others after their piece."""
        written = 0
        try:
            with closing(self._connect()) as conn:  # the stage, read on this thread
                for piece in pieces:
                    with begin() as cur:
                        # Building an index takes memory in one piece: more than the
                        # default makes the trigram index several times faster to build.
                        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
                        if piece.index is None:
                            written += self._fill(
                                cur, conn, piece.table, ddl[piece.table], pieces.copied
                            )
                        else:
                            name, definition = piece.index
                            cur.execute(
                                f"CREATE INDEX {name}{FRESH} ON {piece.table}{FRESH} {definition}"
                            )
                    if piece.index is None:
                        pieces.filled(piece.table)
        except BaseException:
            pieces.close()
            raise
        return written

    def _fill(
        self,
        target: Cursor,
        conn: sqlite3.Connection,
        table: str,
        ddl: str,
        copied: Callable[[], None],
    ) -> int:
        """Create a table afresh (or take the one a partner filled, `prefill`), copy its
        rows, add its primary key and its statistics; return the rows the table holds.

        Rows copied into a partner's table are not written frozen (another transaction
        created it): their first readers set their hint bits, a vacuum freezes them."""
        fresh = table + FRESH
        create, key = _fresh_table(ddl, table)
        prefilled = self._prefilled.get(table)
        if prefilled is None:
            target.execute(f"DROP TABLE IF EXISTS {fresh}")
            target.execute(create)
        else:
            # The partner's, unless another rebuild replaced it since (`prefill`).
            target.execute("SELECT to_regclass(%s)::oid", (fresh,))
            found = target.fetchone()
            if found is None or found[0] != prefilled[0]:
                raise ProjectionFailedError(
                    "rebuild",
                    0,
                    "",
                    f"another rebuild replaced the rows the partner process copied into "
                    f"{fresh}; rebuild again",
                )
        counted = _Counted(self._rows(conn, table, self.columns[table]))
        target.write_rows(fresh, self.columns[table], counted, fresh=prefilled is None)
        copied()
        if key is not None:
            # Named as PostgreSQL names a table's own (the swap renames it back).
            target.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {fresh}_pkey PRIMARY KEY ({key})")
        # The planner's statistics, which follow the table through the swap: without
        # them it takes a filter that matches most rows for a rare one and reads them
        # all instead of walking an index for one page. (Here, not after the indexes:
        # ANALYZE waits for an index being built on its table.) Not of columns no query
        # looks into (`Projection.unanalysed`): ANALYZE reads every value of its sample.
        if analysed := self._analysed[table]:
            target.execute(f"ANALYZE {fresh} ({', '.join(analysed)})")
        return counted.count + (0 if prefilled is None else prefilled[1])

    def _rows(
        self, conn: sqlite3.Connection, table: str, columns: list[str]
    ) -> Iterator[tuple[Any, ...]]:
        """A table's rows, read a chunk at a time by one thread of this process at a time,
        then those of the table held beside it (the caller's, then the partner's).

        Two threads reading SQLite at once (the two connections of `_swap`) run several
        times slower than one after the other: SQLite's allocator takes one lock for the
        whole process on every allocation. Measured, 150,000 rows on each of two
        threads: 1.27 s at once, 0.64 s taking turns a chunk at a time, 0.25 s alone.
        """
        with self._reading:
            cursor = conn.execute(self._select(table, ", ".join(columns)))
        while True:
            with self._reading:
                rows = cursor.fetchmany(READ_CHUNK_ROWS)
            if not rows:
                break
            yield from rows
        yield from self._held.get(table, ())
        yield from self._partner_held.get(table, ())

    def _select(self, table: str, what: str) -> str:
        """A table's rows: this stage's, and those left in a partner's file (`merge`)."""
        select = f"SELECT {what} FROM main.{table}"  # noqa: S608 - our own DDL
        if self._partner is not None and table not in self._partner[1]:
            select += f" UNION ALL SELECT {what} FROM partner.{table}"  # noqa: S608
        return select

    def _connect(self) -> sqlite3.Connection:
        """Another connection to the stage (and the partner's file it reads)."""
        conn = sqlite3.connect(self._path)
        if self._partner is not None:
            conn.execute("ATTACH DATABASE ? AS partner", (str(self._partner[0]),))
        return conn


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


def _fresh_table(ddl: str, table: str) -> tuple[str, str | None]:
    """A table's DDL creating it under its fresh name without its primary key, and the
    primary key's columns (added once the rows are in: a B-tree built from sorted rows
    costs a fraction of one grown row by row in random order)."""
    head = f"CREATE TABLE IF NOT EXISTS {table} ("
    if not ddl.startswith(head):
        raise ValueError(f"not a table's DDL: {ddl[:60]!r}")
    body = ddl[len(head) :]
    key = None
    if found := _TABLE_KEY.search(body):
        key = found[1]
        body = body[: found.start()] + body[found.end() :]
    elif found := _COLUMN_KEY.search(body):
        key = found[1]
        body = body[: found.start(2)] + body[found.end(2) :]
    return f"CREATE TABLE {table}{FRESH} (" + body, key


def _index(ddl: str) -> tuple[str, str, str]:
    """An index's name, table and definition (what follows the table's name)."""
    match = _INDEX.fullmatch(ddl)
    if match is None:
        raise ValueError(f"not an index's DDL: {ddl[:60]!r}")
    return match[1], match[2], match[3]


def _index_weight(definition: str) -> int:
    """An index's work against a B-tree's (`_Pieces`)."""
    return 10 if "gin" in definition.lower() else 1
