"""Whatever text the write side accepts, both backends' read models can hold and give back.

Arbitrary Unicode (control characters, NUL, lone surrogates, noncharacters, line breaks and
everything else) goes into every text of a proposal, a party's details, a fulfilment's note
and a reason. The domain either refuses it with a clear 422-kind error, and nothing is
recorded, or accepts it; then every read model applies the event, no failure is recorded,
and the listing and search give the text back exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.integrity import integrity_settings
from tests.support.scenario import World, make_world
from tests.support.trio import TODAY, Trio
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.bootstrap import Services, build
from tris.domain.errors import InvalidInputError
from tris.domain.party import PartyDetails
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms

# Every code point, surrogates and controls included, with their neighbours more likely.
hostile = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
edges = st.sampled_from(
    ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe", "é", "😀"]
)
texts = st.text(hostile | edges, min_size=1, max_size=40)


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path), today=lambda: TODAY)
    yield built
    built.close()


@pytest.fixture
def world(services: Services) -> World:
    return make_world(services)


@pytest.fixture
def trio(world: World) -> Trio:
    return Trio.of(world)


def draft(trio: Trio, title: str, purpose: str, terms: str, description: str) -> ContentDraft:
    return ContentDraft(
        title=title,
        purpose=purpose,
        parties=(trio.senate.party_id, trio.firm.party_id),
        terms=Terms(terms, date(2026, 5, 1), date(2026, 12, 31)),
        commitments=(
            CommitmentDraft(
                trio.firm.party_id, trio.senate.party_id, CommitmentKind.TIME, "8", "hours",
                description,
            ),
        ),
    )  # fmt: skip


def assert_projected(services: Services) -> None:
    """Every read model applied everything, and none recorded a failure."""
    services.projections.catch_up()
    assert services.projections.failures() == {}
    assert all(row.lag == 0 for row in services.projections.status())


FIELDS = ("title", "purpose", "terms", "description", "party name", "reason")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FIELDS), text=texts)
def test_accepted_text_is_projected_and_read_back_on_both_backends(
    services: Services, world: World, trio: Trio, field: str, text: str
) -> None:
    """One text at a time, so that a good share of the examples is accepted."""
    head = services.store.log.head()
    texts = {f: f"{f} ok" for f in FIELDS} | {field: text}
    try:
        if field == "party name":
            services.parties.register(
                world.admin_ctx(), PartyDetails(name=text, sector=Sector.STATE)
            )
        else:
            created = services.agreements.propose(
                trio.senate.ctx(),
                draft(trio, texts["title"], texts["purpose"], texts["terms"], texts["description"]),
            ).body
            if field == "reason":
                services.agreements.withdraw(trio.senate.ctx(), created["id"], text)
    except InvalidInputError:
        if field != "reason":
            assert services.store.log.head() == head  # refused: nothing recorded
        assert_projected(services)
        return
    event(f"{field} accepted")
    assert_projected(services)
    if field == "title":
        listed = services.queries.agreements(world.admin, AgreementFilter(), limit=500)
        titles = {item["id"]: item["title"] for item in listed["items"]}
        assert titles[created["id"]] == text
        # The search takes the accepted text as its query, whatever it holds.
        services.queries.agreements(world.admin, AgreementFilter(q=text), limit=5)
