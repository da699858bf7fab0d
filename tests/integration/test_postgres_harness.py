"""The throwaway-PostgreSQL test harness really starts, isolates, restarts and cleans up."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import PostgresServer, ThrowawayPostgres


def _port_is_free(port: int) -> bool:
    """Whether a new server could listen on 127.0.0.1:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def _table_names(url: str) -> list[str]:
    """Names of the user tables in the database at ``url``."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema') ORDER BY tablename"
        ).fetchall()
    return [str(row[0]) for row in rows]


@pytest.fixture
def own_cluster() -> Iterator[ThrowawayPostgres]:
    """A private cluster, for tests that restart or stop the server."""
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_database_url_is_a_reachable_postgresql_15_database(database_url: str) -> None:
    """The postgres ``database_url`` accepts connections and the server is PostgreSQL 15."""
    assert database_url.partition(":")[0] == "postgresql"
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT version(), current_database()").fetchone()
    assert row is not None
    version, current_database = row
    assert str(version).startswith("PostgreSQL 15"), version
    assert database_url.endswith(f"/{current_database}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_database_url_is_a_file_in_tmp_path(database_url: str, tmp_path: Path) -> None:
    """The sqlite ``database_url`` names a file in the test's own ``tmp_path``."""
    assert database_url.partition(":")[0] == "sqlite"
    assert database_url == f"sqlite:///{tmp_path}/tris.db"


def test_create_database_gives_distinct_empty_databases(postgres_cluster: PostgresServer) -> None:
    """Two ``create_database`` calls yield two different, empty and isolated databases."""
    first = postgres_cluster.create_database()
    second = postgres_cluster.create_database()
    try:
        assert first != second
        assert _table_names(first) == []
        assert _table_names(second) == []
        with psycopg.connect(first) as conn:
            conn.execute("CREATE TABLE only_in_first (id int)")
        assert _table_names(first) == ["only_in_first"]
        assert _table_names(second) == []
    finally:
        for url in (first, second):
            postgres_cluster.drop_database(url.rsplit("/", 1)[1])


def test_restart_keeps_data(own_cluster: ThrowawayPostgres) -> None:
    """Data committed before ``restart()`` or ``stop_server()``/``start_server()`` survives."""
    url = own_cluster.create_database()
    with psycopg.connect(url) as conn:
        # The default (non-durable) cluster trades crash safety for speed.
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('before restart')")
    port = own_cluster.port

    own_cluster.restart()
    assert own_cluster.port == port
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("before restart",)]
        conn.execute("INSERT INTO kept VALUES ('before stop')")

    own_cluster.stop_server()
    assert not own_cluster.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    own_cluster.start_server()
    assert own_cluster.is_running()
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT value FROM kept ORDER BY value").fetchall()
    assert rows == [("before restart",), ("before stop",)]


def test_stop_frees_port_and_removes_directory() -> None:
    """After ``stop()`` nothing listens on the port and the temporary directory is gone."""
    cluster = ThrowawayPostgres(durable=True)
    cluster.start()
    try:
        port, directory = cluster.port, cluster.directory
        assert directory.is_dir()
        assert not _port_is_free(port)
        with psycopg.connect(cluster.admin_url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
    finally:
        cluster.stop()
    assert _port_is_free(port)
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.url("postgres"), connect_timeout=2).close()
    cluster.stop()  # idempotent
