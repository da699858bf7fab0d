"""Tallies of a rebuild's parts of the log: how the first process checks the partner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tris.storage.log_part import Tally, bound_for_share

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


TOPIC, OTHER = "tris.domain.agreement:Agreement.Proposed", "tris.domain.party:Party.Registered"
counts = st.dictionaries(
    st.tuples(st.sampled_from([TOPIC, OTHER]), st.integers(min_value=0, max_value=255)),
    st.integers(min_value=1, max_value=10_000),
    max_size=60,
)


def _inside(tallies: dict[tuple[str, int], Tally], below: int) -> int:
    return sum(t.events for (topic, byte), t in tallies.items() if topic == TOPIC and byte < below)


@given(counts, st.floats(min_value=0.0, max_value=1.0))
def test_the_bound_gives_the_part_the_share_closest_to_the_one_asked(
    events: dict[tuple[str, int], int], share: float
) -> None:
    tallies = {key: Tally(n, n) for key, n in events.items()}
    below = bound_for_share(tallies, {TOPIC}, share)
    assert 0 <= below <= 255  # a bound LogPart takes
    wanted = share * sum(events.values())
    gap = abs(_inside(tallies, below) - wanted)
    assert all(gap <= abs(_inside(tallies, other) - wanted) for other in range(256))


def test_one_long_agreement_moves_the_bound_not_the_balance() -> None:
    # A hundred events for each last byte, one agreement of 10,000 more ending in 0x05,
    # and 500 events of other aggregates: 36,100 in all.
    tallies = {(TOPIC, byte): Tally(100, byte) for byte in range(256)}
    tallies[(TOPIC, 5)] = Tally(10_100, 5)
    tallies[(OTHER, 7)] = Tally(500, 7)
    even = bound_for_share(tallies, {TOPIC}, 0.5)
    assert even == 80  # 8,000 + the long agreement's 10,000: half of 36,100 within 50
    assert _inside(tallies, even) == 18_000
    assert _inside(tallies, 111) == 21_100  # a fixed bound would have given 58 %
    assert bound_for_share(tallies, {TOPIC}, 0.0) == 0
    assert bound_for_share(tallies, set(), 0.5) == 0  # no topic: an empty part
