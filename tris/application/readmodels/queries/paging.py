"""Paging shared by every query: bounded limits and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from tris.domain.errors import InvalidInputError, TrisError
from tris.storage.database import Database

MAX_LIMIT = 500
CURSOR_PURPOSE = b"tris cursor v1"
MAX_CURSOR = 512
MAX_POSITION = 2**62
_TAG_BYTES = 16


class CursorCodec:
    """Opaque, tamper-evident cursors: the keyset position as JSON, and an HMAC over it.

    The key is derived from the server key, so cursors hold across the processes of one
    deployment; a cursor changed by a client, or made up, is refused before anything of it
    reaches a query. Then each element is checked against the types its query expects.
    """

    def __init__(self, key: Callable[[], bytes] | None = None) -> None:
        self._key_provider = key
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    try:
                        self._key = (
                            self._key_provider() if self._key_provider else secrets.token_bytes(32)
                        )
                    except TrisError:  # no server key: this process's cursors only
                        self._key = secrets.token_bytes(32)
        return self._key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._secret(), payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, *key: int | str) -> str:
        """An opaque cursor for a keyset position."""
        payload = json.dumps(list(key), separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def decode(self, cursor: str, *types: type) -> list[Any]:
        """The keyset position inside a cursor this API issued, each element of the type
        given (ints from 0 to 2^62, strings of at most 200 printable characters), or
        InvalidInputError."""
        refused = InvalidInputError("cursor is not a cursor this API issued")
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or cursor.count(".") != 1:
            raise refused
        body, tag = cursor.split(".")
        try:
            payload, sent = _unb64(body), _unb64(tag)
        except (ValueError, binascii.Error):
            raise refused from None
        if not hmac.compare_digest(self._tag(payload), sent):
            raise refused
        try:
            key = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise refused from None
        if not isinstance(key, list) or len(key) != len(types):
            raise refused
        for value, kind in zip(key, types, strict=True):
            if kind is int and not (type(value) is int and 0 <= value <= MAX_POSITION):
                raise refused
            if kind is str and not (
                type(value) is str and len(value) <= 200 and value.isprintable()
            ):
                raise refused
        return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling `_b64` gives (no padding, no unused bits set)."""
    if not text.isascii():
        raise ValueError("not base64")
    data = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


class ReadModelQueries:
    """What every query area holds: the database of the read models, today's date and the
    codec of its cursors."""

    def __init__(
        self,
        database: Database,
        today: Callable[[], date] = date.today,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.database = database
        self.today = today
        self.cursors = cursors or CursorCodec()


def check_limit(limit: int) -> None:
    """InvalidInputError unless 1 ≤ limit ≤ MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
