"""PostgreSQL's bounds: session timeouts, the connection pool, processes starting together.

These concern the PostgreSQL deployment only (SQLite is one process with one file lock),
so they take a fresh database on the session's cluster instead of both backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.support.concurrency import joined
from tests.support.postgres import PostgresServer, random_database_name
from tests.support.scenario import draft, make_world
from tris.application.access import Role
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.values import Sector
from tris.storage.postgres import POOL_OVERFLOW, POOL_SIZE

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url(postgres_cluster: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's cluster."""
    name = random_database_name()
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


def open_process(url: str) -> Services:
    """The services one TRIS process builds."""
    return build(load_settings(database_url=url, projections="inline"))


def sessions(admin_url: str, url: str) -> int:
    """How many client sessions are connected to the database of `url`.

    Only client backends: an autovacuum worker visiting the database is not TRIS's.
    """
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND backend_type = 'client backend'",
            (dbname,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_every_session_bounds_its_statements_and_lock_waits(postgres_url: str) -> None:
    services = open_process(postgres_url)
    try:
        with services.store.database.read() as cur:
            cur.execute("SHOW statement_timeout")
            statement = cur.fetchone()[0]
            cur.execute("SHOW lock_timeout")
            lock = cur.fetchone()[0]
            cur.execute("SHOW idle_in_transaction_session_timeout")
            idle = cur.fetchone()[0]
        assert (statement, lock, idle) == ("30s", "10s", "30s")
    finally:
        services.close()


def test_a_statement_past_its_timeout_is_cancelled(postgres_url: str) -> None:
    services = open_process(postgres_url)
    try:
        started = time.monotonic()
        with (
            pytest.raises(Exception, match="statement timeout"),
            services.store.database.transaction() as cur,
        ):
            cur.execute("SET LOCAL statement_timeout = '200ms'")
            cur.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
    finally:
        services.close()


def test_one_process_never_holds_more_connections_than_its_pool(
    postgres_cluster: PostgresServer, postgres_url: str
) -> None:
    services = open_process(postgres_url)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, sessions(postgres_cluster.admin_url, postgres_url))
            time.sleep(0.05)

    def slow_read(_: int) -> int:
        with services.store.database.read() as cur:
            cur.execute("SELECT pg_sleep(0.2), 1")
            return int(cur.fetchone()[1])

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(slow_read, range(80)))
    finally:
        stop.set()
        joined(sampler)
        services.close()
    assert answers == [1] * 80  # every reader waited for a pooled connection and got one
    assert 0 < peak <= POOL_SIZE + POOL_OVERFLOW


def test_processes_starting_together_beside_a_busy_one_do_not_deadlock(postgres_url: str) -> None:
    first = open_process(postgres_url)
    world = make_world(first)
    senate = world.add("Bezirksamt Mitte", Sector.STATE)
    firm = world.add("Kiezbäckerei GmbH", Sector.BUSINESS)
    stop = threading.Event()
    written = 0

    def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            first.agreements.propose(senate.ctx(), draft(senate, firm))
            written += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    opened: list[Services] = []
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            opened = list(pool.map(lambda _: open_process(postgres_url), range(4)))
    finally:
        stop.set()
        writer.join(timeout=60)
        for services in opened:
            services.close()
        first.close()
    assert len(opened) == 4 and written > 0


def test_connections_the_server_closed_are_replaced_without_failing_a_command(
    postgres_url: str,
) -> None:
    services = open_process(postgres_url)
    try:
        world = make_world(services)
        senate = world.add("Bezirksamt Mitte", Sector.STATE)
        firm = world.add("Kiezbäckerei GmbH", Sector.BUSINESS)
        issued = services.tokens.issue(Role.PARTNER, senate.party_id)
        services.agreements.propose(senate.ctx(), draft(senate, firm))
        dbname = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            # What a database restart does to every pooled connection, without the restart.
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchone()
        assert ended is not None and ended[0] >= 1
        time.sleep(0.2)  # the servers' goodbyes reach the pooled sockets

        for _ in range(POOL_SIZE + POOL_OVERFLOW + 1):  # more than the pool ever held
            # A request's first statement is its token's lookup, which no layer retries.
            principal = services.tokens.authenticate(issued.token)
            assert principal is not None and principal.party_id == senate.party_id
            proposed = services.agreements.propose(senate.ctx(), draft(senate, firm))
            assert proposed.status == 201
            assert services.agreements.get(world.admin, proposed.body["id"])["version"] == 1
    finally:
        services.close()
