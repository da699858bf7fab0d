"""Storage's part of the error tree (drawn whole in `tris/application/errors.py`)."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from tris.domain.errors import TrisError

# What the library and the drivers raise while the database cannot serve (down, restarting,
# locked, timed out): a passing condition, unlike an error about the data itself.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
)


def is_unavailable(error: BaseException) -> bool:
    """True when the error says the database cannot serve now (retrying may help)."""
    return isinstance(error, UNAVAILABLE_ERRORS)


class StorageError(TrisError):
    """The database failed to do what TRIS asked of it."""

    title = "Storage error"


class StorageUnavailableError(StorageError):
    """The database could not be reached or used."""

    title = "Storage unavailable"


class WriterGoneError(StorageUnavailableError):
    """The process that writes for a server's API processes (ADR 38) could not be reached,
    or went away before it answered a save (which may or may not have committed)."""

    title = "Storage unavailable"


class ProjectionFailedError(StorageError):
    """A read model could not apply an event (not a passing outage): it stays behind it, and
    `tris projections status` and `/healthz` say so until the cause is fixed."""

    title = "Read model failed"

    def __init__(self, projection: str, position: int, event_type: str, cause: str) -> None:
        super().__init__(
            f"read model {projection} failed on the event at position {position} "
            f"({event_type}): {cause}"
        )
        self.projection = projection
        self.position = position
        self.event_type = event_type
        self.cause = cause


class PersonalDataErasedError(StorageError):
    """Data of an erased person cannot be stored again under the same person id."""

    title = "Personal data erased"


class PersonalDataKeyError(StorageError):
    """A person's key cannot be wrapped or unwrapped: the server key is missing or another."""

    title = "Personal data key unusable"
