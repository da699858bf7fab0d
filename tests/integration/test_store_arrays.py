"""The save's arrays, dumped in one piece, reach PostgreSQL exactly as psycopg's own
dumping of the same lists does (tris.storage.arrays)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tris.storage.arrays import BigintArray, ByteaArray, TextArray, UuidArray

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

# Texts of the array syntax's own characters (and a few others), and texts of any
# character but NUL.
TEXT = st.one_of(
    st.text(st.sampled_from('\\"{}, aNUL\té€😀'), max_size=12),
    st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=40),
)
BIGINT = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def _echo(conn: psycopg.Connection[Any], cast: str, value: Any) -> Any:
    row = conn.execute(f"SELECT %s::{cast}", (value,), prepare=True).fetchone()
    assert row is not None
    return row[0]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.one_of(st.none(), TEXT), max_size=6),
    blobs=st.lists(st.one_of(st.none(), st.binary(max_size=64)), max_size=4),
    numbers=st.lists(st.one_of(st.none(), BIGINT), max_size=6),
    ids=st.lists(st.one_of(st.none(), st.uuids()), max_size=4),
)
def test_arrays_arrive_as_the_lists_they_were(
    conn: psycopg.Connection[Any],
    texts: list[str | None],
    blobs: list[bytes | None],
    numbers: list[int | None],
    ids: list[uuid.UUID | None],
) -> None:
    """Quotes, backslashes, braces, commas, blanks, NULL, any byte, the ends of bigint:
    each element arrives whole, as psycopg's element-by-element dumping sends it."""
    assert _echo(conn, "text[]", TextArray(texts)) == texts == _echo(conn, "text[]", texts)
    assert _echo(conn, "bytea[]", ByteaArray(blobs)) == blobs
    assert _echo(conn, "bigint[]", BigintArray(numbers)) == numbers
    assert _echo(conn, "uuid[]", UuidArray(ids)) == ids


def test_hostile_elements_stay_one_element_or_are_refused(
    conn: psycopg.Connection[Any],
) -> None:
    """Nothing in an element can split it or end the array: a text with the array's own
    syntax stays one element; what is not a UUID is refused, not parsed as two."""
    tricky = ['a","b', "}", "{x}", "NULL", '\\"', " lead", ""]
    assert _echo(conn, "text[]", TextArray(tricky)) == tricky
    with pytest.raises(psycopg.DataError):
        _echo(conn, "uuid[]", UuidArray([f"{uuid.uuid4()},{uuid.uuid4()}"]))
    assert _echo(conn, "uuid[]", UuidArray([str(known := uuid.uuid4())])) == [known]


def test_values_psycopg_would_refuse_are_refused_before_sending(
    conn: psycopg.Connection[Any],
) -> None:
    """A NUL in a text, a bool, a string or a number beyond bigint where integers go:
    refused as psycopg refuses them (DataError), before anything reaches the database."""
    with pytest.raises(psycopg.DataError):
        _echo(conn, "text[]", TextArray(["a\x00b"]))
    for wrong in (True, "1", 1.0, 2**63):
        with pytest.raises(psycopg.DataError):
            _echo(conn, "bigint[]", BigintArray([wrong]))
