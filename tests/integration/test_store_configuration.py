"""Configuration: database URLs, the environment, and the store they open."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.scenario import make_world
from tris.bootstrap import build
from tris.config import DatabaseURLError, load_settings, parse_database_url
from tris.domain.values import Sector
from tris.storage.eventlog import eventsourcing_env


@pytest.mark.parametrize(
    ("url", "backend", "parts"),
    [
        ("sqlite:///rel.db", "sqlite", {"path": "rel.db"}),
        ("sqlite:///./var/tris.db", "sqlite", {"path": "./var/tris.db"}),
        ("sqlite:////abs/x.db", "sqlite", {"path": "/abs/x.db"}),
        (
            "postgresql://u:p@h:5/db",
            "postgres",
            {"host": "h", "port": "5", "user": "u", "password": "p", "dbname": "db"},
        ),
        (
            "postgres://tris:p%40ss%2Fw@db.internal/tris",
            "postgres",
            {
                "host": "db.internal",
                "port": "5432",
                "user": "tris",
                "password": "p@ss/w",
                "dbname": "tris",
            },
        ),
        (
            "postgresql+psycopg:///tris",
            "postgres",
            {
                "host": "127.0.0.1",
                "port": "5432",
                "user": "postgres",
                "password": "",
                "dbname": "tris",
            },
        ),
    ],
)
def test_database_urls_name_a_backend_and_its_parts(
    url: str, backend: str, parts: dict[str, str]
) -> None:
    assert parse_database_url(url) == (backend, parts)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:p@h/db",
        "sqlite3:///x.db",
        "tris.db",
        "",
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "postgresql://u:p@h:5",
        "postgresql://u:p@h:5/",
    ],
)
def test_urls_that_name_no_database_are_refused(url: str) -> None:
    with pytest.raises(DatabaseURLError):
        parse_database_url(url)
    with pytest.raises(ValidationError):
        load_settings(database_url=url)


def test_the_library_is_told_where_the_database_is() -> None:
    sqlite = eventsourcing_env("sqlite:////srv/tris/tris.db")
    postgres = eventsourcing_env("postgresql://u:p%21@h:6543/tris")

    assert sqlite["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert sqlite["SQLITE_DBNAME"] == "/srv/tris/tris.db"
    assert postgres["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (postgres["POSTGRES_HOST"], postgres["POSTGRES_PORT"]) == ("h", "6543")
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]) == ("u", "p!")
    assert postgres["POSTGRES_DBNAME"] == "tris"


def test_the_database_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIS_DATABASE_URL", "postgresql://u:p@h:5/db")
    monkeypatch.setenv("TRIS_SNAPSHOT_INTERVAL", "7")

    settings = load_settings()

    assert settings.database_url == "postgresql://u:p@h:5/db"
    assert settings.snapshot_interval == 7
    # Explicit overrides win over the environment.
    assert load_settings(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


def test_an_unset_database_url_means_tris_db_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRIS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    settings = load_settings(projections="inline")
    assert settings.database_url == "sqlite:///./tris.db"
    services = build(settings)
    try:
        make_world(services).add("Bezirksamt Mitte", Sector.STATE)
    finally:
        services.close()

    assert (tmp_path / "tris.db").is_file()


def test_a_bad_url_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIS_DATABASE_URL", "mysql://u:p@h/db")

    with pytest.raises(ValidationError, match="unsupported database URL scheme"):
        load_settings()


def test_services_built_from_the_environment_use_the_database_named_there(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("TRIS_DATABASE_URL", database_url)
    monkeypatch.setenv("TRIS_PROJECTIONS", "inline")
    first = build()
    try:
        party_id = make_world(first).add("Bezirksamt Mitte", Sector.STATE).party_id
    finally:
        first.close()

    second = build(load_settings(database_url=database_url, projections="inline"))
    try:
        assert [p["id"] for p in second.parties.list(make_world(second).admin)] == [party_id]
    finally:
        second.close()
