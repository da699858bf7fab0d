"""Paging shared by every query: bounded limits and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from tris.domain.errors import InvalidInputError
from tris.storage.database import Database

MAX_LIMIT = 500


class ReadModelQueries:
    """What every query area holds: the database of the read models and today's date."""

    def __init__(self, database: Database, today: Callable[[], date] = date.today) -> None:
        self.database = database
        self.today = today


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for a keyset position."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The keyset position inside a cursor, or InvalidInputError."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError("cursor is not a cursor this API issued") from None
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInputError("cursor is not a cursor this API issued")
    return key


def check_limit(limit: int) -> None:
    """InvalidInputError unless 1 ≤ limit ≤ MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
