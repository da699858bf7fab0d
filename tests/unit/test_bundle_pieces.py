"""A bundle written a piece at a time is byte for byte the bundle written whole."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tris.domain.proofs.signed import Streamed, jcs_chunks, layout_chunks, render_bundle
from tris.domain.signing import canonical_json

scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
members = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12), values, max_size=6
)


# Generation is cheap, but a shared machine can stall any draw: time is not the property.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(members, st.data())
def test_pieces_join_to_the_layout_and_the_canonical_form(
    bundle: dict[str, Any], data: st.DataObject
) -> None:
    streamed = {
        name: Streamed(lambda value=value: iter(value))
        if isinstance(value, list) and data.draw(st.booleans())
        else value
        for name, value in bundle.items()
    }
    assert b"".join(layout_chunks(streamed)) == render_bundle(bundle)
    assert b"".join(jcs_chunks(streamed)) == canonical_json(bundle)
