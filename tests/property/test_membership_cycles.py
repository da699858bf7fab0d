"""Random membership histories never put a network inside itself on any day: whatever order
memberships arrive in, `refuse_cycle` accepts exactly those that keep every day's graph
free of circles (checked by brute force, day by day)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tris.domain.errors import MembershipCycleError
from tris.domain.networks.cycles import Edge, refuse_cycle

PARTIES = ("a", "b", "c", "d", "e")
START = date(2020, 1, 1)


@st.composite
def edges(draw: st.DrawFn) -> Edge:
    network = draw(st.sampled_from(PARTIES))
    member = draw(st.sampled_from(PARTIES))
    first = START + timedelta(days=draw(st.integers(0, 40)))
    open_ended = draw(st.booleans())
    last = None if open_ended else first + timedelta(days=draw(st.integers(0, 40)))
    return Edge(network, member, first, last)


def circle_on_some_day(graph: list[Edge]) -> bool:
    """Brute force: for every day any period starts or ends, is there a circle that day?"""
    days = {e.valid_from for e in graph} | {e.until for e in graph if e.valid_to}
    for day in days:
        holding = [e for e in graph if e.valid_from <= day <= e.until]
        if any(e.network == e.member for e in holding):
            return True
        children: dict[str, set[str]] = {}
        for e in holding:
            children.setdefault(e.network, set()).add(e.member)
        if has_circle(children):
            return True
    return False


def has_circle(children: dict[str, set[str]]) -> bool:
    """Depth-first search for a back edge."""
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for child in children.get(node, ()):
            if state.get(child) == 1 or (state.get(child) is None and visit(child)):
                return True
        state[node] = 2
        return False

    return any(state.get(n) is None and visit(n) for n in list(children))


@settings(max_examples=300, deadline=None)
@given(st.lists(edges(), min_size=1, max_size=25))
def test_accepted_memberships_never_form_a_circle_and_refused_ones_would(
    arriving: list[Edge],
) -> None:
    graph: list[Edge] = []
    for candidate in arriving:
        try:
            refuse_cycle(candidate, graph)
        except MembershipCycleError:
            event("refused")
            # Refused only when it would have closed a circle on some day.
            assert circle_on_some_day([*graph, candidate])
            continue
        event("accepted")
        graph.append(candidate)
        assert not circle_on_some_day(graph)


@pytest.mark.parametrize(
    ("later", "circle"),
    [
        (Edge("b", "a", date(2021, 1, 1), date(2021, 12, 31)), True),  # overlaps 2021
        (Edge("b", "a", date(2023, 1, 1)), False),  # a left b's network before
        (Edge("a", "a", date(2020, 1, 1)), True),
    ],
)
def test_a_circle_counts_only_on_days_all_its_memberships_hold(later: Edge, circle: bool) -> None:
    held = [Edge("a", "b", date(2020, 1, 1), date(2022, 12, 31))]
    if circle:
        with pytest.raises(MembershipCycleError):
            refuse_cycle(later, held)
    else:
        refuse_cycle(later, held)
