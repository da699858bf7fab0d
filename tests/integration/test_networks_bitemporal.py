"""The bitemporal answers equal a brute-force computation from the events: for random
membership histories (recorded, asked and accepted, ended, corrected, some refused), who
was a member on a day, directly or transitively, as TRIS knew it at each recorded moment."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.scenario import World, make_world
from tris.application.access import Principal, Role
from tris.application.opendata.stream import EventStream
from tris.application.readmodels.queries.networks import MembershipQuestion
from tris.application.store import CommandContext
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.errors import DomainError
from tris.domain.networks.membership import MembershipTerms
from tris.domain.party import PartyDetails
from tris.domain.values import Sector

START = date(2020, 1, 1)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["record", "ask", "end", "correct"]),
        st.integers(0, 4),  # network
        st.integers(0, 4),  # member
        st.integers(0, 30),  # first day
        st.one_of(st.none(), st.integers(0, 30)),  # length (None: open-ended)
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build(load_settings(database_url=database_url, projections="inline"))
    yield built
    built.close()


def fold(items: list[dict[str, Any]], moment: str | None) -> dict[str, dict[str, Any]]:
    """Each membership as the events up to `moment` (None: all) leave it."""
    known: dict[str, dict[str, Any]] = {}
    for item in items:
        if item["aggregate_type"] != "Membership" or (moment and item["time"] > moment):
            continue
        data, kind, key = item["data"], item["type"], item["aggregate_id"]
        if kind in ("Requested", "Recorded"):
            terms = data["terms"]
            known[key] = {
                "network": terms["network_id"],
                "member": terms["member_id"],
                "from": terms["valid_from"],
                "to": terms["valid_to"],
                "status": "active" if kind == "Recorded" else "pending",
            }
        elif kind == "Accepted":
            known[key]["status"] = "active"
        elif kind == "Rejected":
            known[key]["status"] = "rejected"
        elif kind == "Ended":
            known[key].update(status="ended", to=data["valid_to"])
        elif kind == "Corrected":
            known[key].update({"from": data["valid_from"], "to": data["valid_to"]})
    return known


def depths(known: dict[str, dict[str, Any]], start: str, day: str, *, down: bool) -> dict[str, int]:
    """Breadth-first: each party reached from `start` on `day` and its least depth."""
    edges = [
        (m["network"], m["member"]) if down else (m["member"], m["network"])
        for m in known.values()
        if m["status"] in ("active", "ended")
        and m["from"] <= day
        and (m["to"] is None or m["to"] >= day)
    ]
    found: dict[str, int] = {}
    queue = deque([(start, 0)])
    while queue:
        party, depth = queue.popleft()
        for near, far in edges:
            if near == party and far not in found:
                found[far] = depth + 1
                queue.append((far, depth + 1))
    return found


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_members_on_a_day_as_known_at_a_moment_equal_a_fold_of_the_events(
    services: Services, steps: list[tuple[str, int, int, int, int | None]]
) -> None:
    world: World = make_world(services)
    admin = world.admin_ctx()
    parties: list[tuple[str, CommandContext]] = []
    for n in range(5):
        details = PartyDetails(name=f"Netzwerk {n}", sector=Sector.BUSINESS, network=True)
        party_id = str(services.parties.register(admin, details).body["id"])
        issued = services.tokens.issue(Role.PARTNER, party_id)
        parties.append(
            (party_id, CommandContext(Principal(issued.token_id, Role.PARTNER, party_id).actor))
        )
    ids = {p for p, _ in parties}
    made: list[tuple[str, str]] = []  # (network, membership)
    for action, n, m, first, length in steps:
        (network, network_ctx), (member, member_ctx) = parties[n], parties[m]
        valid_from = START + timedelta(days=first)
        valid_to = None if length is None else valid_from + timedelta(days=length)
        try:
            if action in ("record", "ask") or not made:
                terms = MembershipTerms(network, member, "member", valid_from, valid_to, "")
                ctx = admin if action == "record" else member_ctx
                created = services.networks.request(ctx, network, terms).body
                made.append((network, created["id"]))
                if action == "ask":
                    services.networks.accept(network_ctx, network, created["id"])
            elif action == "end":
                net, membership = made[n % len(made)]
                services.networks.end(admin, net, membership, valid_to or valid_from, "Ende")
            else:
                net, membership = made[n % len(made)]
                services.networks.correct(admin, net, membership, valid_from, valid_to, "Korrektur")
            event(f"{action}: done")
        except DomainError as refused:
            event(f"{action}: {type(refused).__name__}")
    stream = EventStream(services.store)
    items = [s.item for s in stream.iterate(0, stream.head())]
    moments = sorted({i["time"] for i in items if i["aggregate_type"] == "Membership"})
    for moment in [None, *moments[:: max(1, len(moments) // 4)]]:
        known = fold(items, moment)
        recorded = None if moment is None else datetime.fromisoformat(moment)
        for day_offset in (0, 10, 25, 45):
            day = START + timedelta(days=day_offset)
            for party in ids:
                for transitive in (False, True):
                    question = MembershipQuestion(day, recorded, transitive)
                    for down, ask in (
                        (True, services.queries.members),
                        (False, services.queries.networks),
                    ):
                        expected = depths(known, party, day.isoformat(), down=down)
                        if not transitive:
                            expected = {p: d for p, d in expected.items() if d == 1}
                        key = "member_id" if down else "network_id"
                        answered = {i[key]: i["depth"] for i in ask(party, question)}
                        assert answered == expected, (moment, day, party, down, transitive)
