"""How the command line reports failures: one line on stderr and an exit code from one table.

The table maps TRIS's error tree (drawn in `tris/application/errors.py`); foreign errors
that reach the command line are translated into it first. The first matching row wins:

    exit 2  InvalidInputError, UnreadableExportError, bad configuration (e.g.
            TRIS_DATABASE_URL, the server key), usage errors
    exit 3  NotFoundError, ResourceNotFoundError
    exit 4  PermissionDeniedError
    exit 5  ConflictError, StateConflictError
    exit 1  any other TRIS error, and storage failures (database unreachable, …)
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError
from typer.core import TyperGroup

from tris.application.errors import (
    ApplicationError,
    ResourceNotFoundError,
    StateConflictError,
    UnreadableExportError,
)
from tris.config import ConfigurationError, DatabaseURLError
from tris.domain.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TrisError,
)
from tris.storage.errors import StorageUnavailableError

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigurationError, 2),
    (InvalidInputError, 2),
    (UnreadableExportError, 2),
    (NotFoundError, 3),
    (ResourceNotFoundError, 3),
    (PermissionDeniedError, 4),
    (ConflictError, 5),
    (StateConflictError, 5),
    (TrisError, 1),
)

REPORTED = (TrisError,)


def exit_code_for(error: Exception) -> int:
    """The exit code of an error: the first row of EXIT_CODES it is an instance of."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 1


def describe(error: Exception) -> str:
    """The one line printed for an error."""
    if isinstance(error, DomainError | ApplicationError):
        return f"tris: {error.title}: {_first_line(error.detail)}"
    return f"tris: {_first_line(str(error))}"


def translate(error: Exception) -> Exception:
    """Turn a foreign error into one of the command line's own, or return it unchanged."""
    if isinstance(error, ValidationError):
        return ConfigurationError(settings_problem(error))
    if isinstance(error, DatabaseURLError):
        return ConfigurationError(f"TRIS_DATABASE_URL: {error}")
    if isinstance(error, (PersistenceError, psycopg.Error, sqlite3.Error)):
        return StorageUnavailableError(f"database error: {_first_line(str(error))}")
    return error


def settings_problem(error: ValidationError) -> str:
    """Name each invalid setting by its environment variable, in one line."""
    problems = []
    for item in error.errors():
        name = "TRIS_" + "_".join(str(part) for part in item["loc"]).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return "; ".join(problems) or str(error)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed"


class ErrorReportingGroup(TyperGroup):
    """The root command group: reports known errors as one line and an exit code."""

    # `ctx` is the click Context that typer vendors privately; Any keeps us off its module.
    def invoke(self, ctx: Any) -> Any:
        """Run the chosen command; translate what it raises into an exit code."""
        try:
            return super().invoke(ctx)
        except Exception as raised:
            error = translate(raised)
            if not isinstance(error, REPORTED):
                raise
            typer.echo(describe(error), err=True)
            raise typer.Exit(exit_code_for(error)) from None
