"""Arrays sent as statement parameters, each dumped in one piece.

psycopg dumps a list parameter in Python element by element, and works the elements' type
out afresh on every cursor (each cursor has its own adaptation cache): a save's twelve
arrays took ~80 µs of every command's CPU. A list of one of these types says what it
holds, and its dumper writes the array at once (~20 µs for the same save), in binary
since ADR 40 (the text form before), with a fixed type, so a prepared statement sees the
same parameter types every time. Plain lists are still dumped as psycopg dumps them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format


class UuidArray(list[Any]):
    """A `uuid[]` parameter (UUIDs or None)."""


class BigintArray(list[Any]):
    """A `bigint[]` parameter (ints or None)."""


class TextArray(list[Any]):
    """A `text[]` parameter (strings or None)."""


class ByteaArray(list[Any]):
    """A `bytea[]` parameter (bytes or None)."""


# The binary form of a one-dimensional array (PostgreSQL's `array_send`): dimensions, a
# flag for NULLs, the elements' type, the length and lower bound, then each element as
# its length and bytes (-1 and nothing for NULL). PostgreSQL reads it without parsing
# text (a save's arrays were a third of its statement's bind), and Python writes it with
# less work than the text form's quoting.
_EMPTY = struct.Struct("!iiI")
_HEADER = struct.Struct("!iiIii")
_LENGTH = struct.Struct("!i")
_BIGINT = struct.Struct("!iq")
_NULL = _LENGTH.pack(-1)
_UUID_LENGTH = _LENGTH.pack(16)


def _uuid(value: Any) -> bytes:
    if value is None:
        return _NULL
    if type(value) is UUID:
        return _UUID_LENGTH + value.bytes
    try:  # a UUID's text, as Python's `UUID` reads it
        return _UUID_LENGTH + UUID(str(value)).bytes
    except ValueError:
        raise psycopg.DataError(f"not a UUID in a uuid[]: {value!r}") from None


def _bigint(value: Any) -> bytes:
    if value is None:
        return _NULL
    if type(value) is not int:
        raise psycopg.DataError(f"not an integer in a bigint[]: {value!r}")
    try:
        return _BIGINT.pack(8, value)
    except struct.error:
        raise psycopg.DataError(f"out of the range of bigint: {value}") from None


def _text(value: Any) -> bytes:
    if value is None:
        return _NULL
    encoded = str(value).encode()
    if b"\x00" in encoded:
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return _LENGTH.pack(len(encoded)) + encoded


def _bytea(value: Any) -> bytes:
    if value is None:
        return _NULL
    return _LENGTH.pack(len(value)) + bytes(value)


class _ArrayDumper(Dumper):
    """An array's binary form in one piece, each element written by `element`."""

    format = Format.BINARY
    element: Callable[[Any], bytes]
    element_oid: int

    def dump(self, obj: Any) -> bytes:
        if not obj:
            return _EMPTY.pack(0, 0, self.element_oid)
        nulls = 1 if None in obj else 0
        head = _HEADER.pack(1, nulls, self.element_oid, len(obj), 1)
        return head + b"".join(map(self.element, obj))


for _kind, _type, _element in (
    (UuidArray, "uuid", _uuid),
    (BigintArray, "int8", _bigint),
    (TextArray, "text", _text),
    (ByteaArray, "bytea", _bytea),
):
    _dumper = type(
        f"{_kind.__name__}Dumper",
        (_ArrayDumper,),
        {
            "oid": postgres.types[_type].array_oid,
            "element_oid": postgres.types[_type].oid,
            "element": staticmethod(_element),
        },
    )
    psycopg.adapters.register_dumper(_kind, _dumper)
