"""Shared fixtures: every storage test runs on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings

from tests.support.postgres import (
    ExternalPostgres,
    PostgresServer,
    ThrowawayPostgres,
    random_database_name,
)

POSTGRES_URL_ENV = "TRIS_TEST_POSTGRES_URL"

# Property tests draw the same examples on every run, so `make test` (and CI) passes or
# fails alike for everyone; TRIS_HYPOTHESIS_PROFILE=explore draws new ones each run, to
# look for counterexamples the fixed examples miss.
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("TRIS_HYPOTHESIS_PROFILE", "fixed"))


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server: ``$TRIS_TEST_POSTGRES_URL`` or a throwaway cluster."""
    external_url = os.environ.get(POSTGRES_URL_ENV)
    if external_url:
        with ExternalPostgres(external_url) as external:
            yield external
        return
    # Deliberately no skip: a PostgreSQL that cannot be started fails the tests that need it.
    with ThrowawayPostgres(durable=False) as cluster:
        yield cluster


# -- storage backends --------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database: a SQLite file or a new PostgreSQL database."""
    backend: str = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/tris.db"
        return
    # Requested lazily so that SQLite-only runs never start PostgreSQL.
    cluster: PostgresServer = request.getfixturevalue("postgres_cluster")
    name = random_database_name()
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        # drop_database disconnects leftover sessions first; a failed drop must not fail the test.
        with contextlib.suppress(psycopg.Error, OSError):
            cluster.drop_database(name)
