"""A transaction sent in one round trip on PostgreSQL (`PipelinedTransaction`): BEGIN, its
statements and COMMIT go out together, and a failure anywhere leaves nothing behind."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from tris.storage.cursors import PipelinedTransaction, implicit_transaction

pytestmark = pytest.mark.postgres


@pytest.fixture
def conn(postgres_cluster: Any) -> Iterator[psycopg.Connection[Any]]:
    url = str(postgres_cluster.create_database())
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE t (n integer PRIMARY KEY)")
        yield connection


def rows(conn: psycopg.Connection[Any]) -> list[int]:
    return [r[0] for r in conn.execute("SELECT n FROM t ORDER BY n")]


def syncs(conn: psycopg.Connection[Any], work: Any) -> int:
    """How many Sync messages (round trips of a pipeline) `work` sends (libpq's trace)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trace"
        with path.open("w") as trace:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                work()
            finally:
                conn.pgconn.untrace()
        return sum(line.split("\t")[2:3] == ["Sync"] for line in path.read_text().splitlines())


def test_begin_statements_commit_and_a_query_after_go_in_one_round_trip(
    conn: psycopg.Connection[Any],
) -> None:
    counted = conn.cursor()

    def work() -> None:
        with PipelinedTransaction(conn) as transaction:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (2)")
            transaction.commit()
            counted.execute("SELECT count(*) FROM t")

    assert syncs(conn, work) == 1
    assert counted.fetchone() == (2,)
    assert rows(conn) == [1, 2]

    # psycopg's own transaction block inside a pipeline takes more.
    def theirs() -> None:
        with conn.pipeline():
            with conn.transaction():
                conn.execute("INSERT INTO t VALUES (3)")
            counted.execute("SELECT count(*) FROM t")

    assert syncs(conn, theirs) > 1


def test_a_refused_statement_leaves_nothing_and_the_connection_idle(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("INSERT INTO t VALUES (1)")
    transaction = PipelinedTransaction(conn)
    with pytest.raises(psycopg.errors.UniqueViolation), transaction:
        conn.execute("INSERT INTO t VALUES (2)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (3)")
    assert not transaction.committed
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert rows(conn) == [1]


def test_an_error_in_the_block_rolls_back_what_was_sent(conn: psycopg.Connection[Any]) -> None:
    transaction = PipelinedTransaction(conn)
    with pytest.raises(RuntimeError, match="computed wrongly"), transaction:
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("computed wrongly")
    assert not transaction.committed
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert rows(conn) == []


def test_a_failure_after_commit_keeps_what_was_committed_and_says_so(
    conn: psycopg.Connection[Any],
) -> None:
    transaction = PipelinedTransaction(conn)
    with pytest.raises(psycopg.errors.DivisionByZero), transaction:
        conn.execute("INSERT INTO t VALUES (1)")
        transaction.commit()
        conn.execute("SELECT 1 / 0")
    assert transaction.committed
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert rows(conn) == [1]


def test_statements_after_commit_are_one_transaction_that_a_failure_undoes_whole(
    conn: psycopg.Connection[Any],
) -> None:
    """What a save's follow-up relies on (ADR 35): after COMMIT, the statements up to the
    sync form one transaction — a failure undoes the ones before it too, never what
    COMMIT committed — and its rollback keeps the connection's prepared statements."""
    conn.execute("CREATE TABLE numbered (n integer)")
    insert = "INSERT INTO numbered VALUES (%s)"
    for n in range(3):  # prepared by now (psycopg's threshold is 5 uses)
        conn.execute(insert, (n,), prepare=True)
    conn.execute("DELETE FROM numbered")
    before = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    transaction = PipelinedTransaction(conn)
    with pytest.raises(psycopg.errors.UniqueViolation), transaction:
        conn.execute("INSERT INTO t VALUES (1)")
        transaction.commit()
        conn.execute(insert, (10,), prepare=True)  # like the sequencer's numbering
        conn.execute("INSERT INTO t VALUES (1)")  # refused
    assert transaction.committed
    assert rows(conn) == [1]
    assert conn.execute("SELECT count(*) FROM numbered").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == before
    conn.execute(insert, (11,), prepare=True)  # still prepared: no DEALLOCATE ALL
    assert conn.execute("SELECT n FROM numbered").fetchall() == [(11,)]


def prepared_statements(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0])


def test_an_implicit_transaction_commits_at_the_sync_in_one_round_trip(
    conn: psycopg.Connection[Any],
) -> None:
    counted = conn.cursor()

    def work() -> None:
        with implicit_transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            counted.execute("SELECT txid_current()")
            conn.execute("INSERT INTO t VALUES (2)")
            conn.execute("SELECT txid_current()")

    assert syncs(conn, work) == 1
    assert rows(conn) == [1, 2]
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_failure_undoes_an_implicit_transaction_and_keeps_the_prepared_statements(
    conn: psycopg.Connection[Any],
) -> None:
    insert = "INSERT INTO t VALUES (%s)"
    conn.execute(insert, (0,), prepare=True)
    before = prepared_statements(conn)
    with pytest.raises(psycopg.errors.UniqueViolation), implicit_transaction(conn):
        conn.execute(insert, (1,), prepare=True)
        conn.execute(insert, (2,), prepare=True)
        conn.execute(insert, (1,), prepare=True)  # refused: the whole transaction with it
        conn.execute(insert, (3,), prepare=True)
    assert rows(conn) == [0]
    assert prepared_statements(conn) == before  # no ROLLBACK, no DEALLOCATE ALL
    conn.execute(insert, (4,), prepare=True)
    assert rows(conn) == [0, 4]


def test_an_exception_in_an_implicit_transaction_commits_nothing_of_it(
    conn: psycopg.Connection[Any],
) -> None:
    class StopError(Exception):
        pass

    with pytest.raises(StopError), implicit_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("SELECT n FROM t").fetchall()  # a read in between: no sync
        conn.execute("INSERT INTO t VALUES (2)")
        raise StopError
    assert rows(conn) == []
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
