"""What every command needs: settings, the services over the database, the operator's identity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tris.application.access import Principal, Role
from tris.bootstrap import Services, build
from tris.config import Settings, load_settings, parse_database_url

CLI_OPERATOR_LABEL = "tris command line"
CLI_READER_TOKEN_ID = "command-line-reader"  # noqa: S105 - an id, not a secret


def settings_from_environment() -> Settings:
    """The settings of this process; a bad value raises and is reported as configuration."""
    return load_settings()


@contextmanager
def open_services(settings: Settings | None = None) -> Iterator[Services]:
    """The services over the configured database, closed when the command ends."""
    settings = settings or settings_from_environment()
    # A command-line run is a batch job: it brings the read models up to date itself rather
    # than wait for `tris worker` processes that may not be running. The projection runner
    # applies each event exactly once, whichever process gets there first.
    services = build(settings.model_copy(update={"projections": "inline"}))
    try:
        yield services
    finally:
        services.close()


def cli_operator(services: Services) -> Principal:
    """The operator acting through the command line, with a token id of its own.

    Every event names a token. The command line is trusted by access to the database, not
    by a secret, so it acts through one admin token whose secret is never kept or shown.
    """
    for token in services.tokens.list():
        if (
            token["label"] == CLI_OPERATOR_LABEL
            and token["role"] == Role.ADMIN.value
            and not token["revoked"]
        ):
            return Principal(token["token_id"], Role.ADMIN)
    issued = services.tokens.issue(Role.ADMIN, label=CLI_OPERATOR_LABEL)
    return Principal(issued.token_id, Role.ADMIN)


def cli_reader() -> Principal:
    """A principal that reads everything and changes nothing (so it needs no token)."""
    return Principal(token_id=CLI_READER_TOKEN_ID, role=Role.AUDITOR)


def describe_database(url: str) -> str:
    """The database as a person reads it, without its password."""
    backend, parts = parse_database_url(url)
    if backend == "sqlite":
        return f"SQLite file {parts['path']}"
    return f"PostgreSQL database {parts['dbname']} on {parts['host']}:{parts['port']}"


def render_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Rows as left-aligned columns under a header, two spaces apart."""
    every = [header, *rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in every
    )
