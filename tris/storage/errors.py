"""Storage's part of the error tree (drawn whole in `tris/application/errors.py`)."""

from __future__ import annotations

from tris.domain.errors import TrisError


class StorageError(TrisError):
    """The database failed to do what TRIS asked of it."""

    title = "Storage error"


class StorageUnavailableError(StorageError):
    """The database could not be reached or used."""

    title = "Storage unavailable"


class PersonalDataErasedError(StorageError):
    """Data of an erased person cannot be stored again under the same person id."""

    title = "Personal data erased"
