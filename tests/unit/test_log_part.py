"""Tallies of a rebuild's parts of the log: how the first process checks the partner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tris.storage.log_part import Tally

positions = st.lists(st.integers(min_value=1, max_value=10**9), max_size=50)


@given(st.lists(positions, max_size=8))
def test_the_total_of_tallies_counts_every_event_once(stretches: list[list[int]]) -> None:
    tallies = [Tally().counting(stretch) for stretch in stretches]
    every = [position for stretch in stretches for position in stretch]
    assert Tally.total(tallies) == Tally(len(every), sum(every))
    folded = Tally()
    for tally in tallies:
        folded = folded.plus(tally)
    assert Tally.total(tallies) == folded


def test_the_total_of_no_tallies_is_nothing() -> None:
    assert Tally.total([]) == Tally(0, 0)
