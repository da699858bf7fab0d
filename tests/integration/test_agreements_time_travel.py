"""Reading an agreement as it stood: at a version, or at a moment."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from tests.support.scenario import World, draft
from tests.support.trio import TODAY, Trio, busy_agreement
from tris.application.views import agreement_view
from tris.domain.agreement import fulfilment_ledger
from tris.domain.errors import AgreementNotFoundError


def test_every_version_reads_as_the_agreement_stood_after_that_event(
    world: World, trio: Trio
) -> None:
    agreement_id, views = busy_agreement(world, trio)
    agreements = world.services.agreements
    store = world.services.store
    events = store.events(UUID(agreement_id))
    assert len(events) == 13

    for version in range(1, 14):
        seen = agreements.get(world.admin, agreement_id, version=version)
        assert seen["version"] == version
        if version in views:
            assert seen == views[version], f"version {version}"
        else:
            # The view no command returned: the last signature before the conclusion.
            upto = functools.reduce(lambda a, e: e.mutate(a), events[:version], None)
            assert seen == agreement_view(upto, TODAY, fulfilment_ledger(events[:version]).values())
    assert agreements.get(world.admin, agreement_id, version=5)["parties"][2]["signed"]
    assert agreements.get(world.admin, agreement_id, version=5)["status"] == "proposed"
    assert agreements.get(world.admin, agreement_id, version=6)["status"] == "in_force"


def test_a_version_beyond_the_current_one_reads_as_the_current_agreement(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body

    assert agreements.get(world.admin, created["id"], version=2) == created
    assert agreements.get(world.admin, created["id"], version=10_000) == created


def test_version_zero_does_not_exist(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    agreements.decline(trio.firm.ctx(), created["id"], "nein")

    for version in (0, -1):
        with pytest.raises(AgreementNotFoundError):
            agreements.get(world.admin, created["id"], version=version)


def between() -> datetime:
    """A moment strictly between the events before and after it."""
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment


def test_as_of_a_moment_between_two_commands_reads_the_earlier_state(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    before_creation = between()
    proposed = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    agreement_id = proposed["id"]
    after_proposal = between()
    declined = agreements.decline(trio.firm.ctx(), agreement_id, "nein").body
    after_declining = between()
    withdrawn = agreements.withdraw(trio.senate.ctx(), agreement_id, "weg").body

    assert agreements.get(world.admin, agreement_id, as_of=after_proposal) == proposed
    assert agreements.get(world.admin, agreement_id, as_of=after_declining) == declined
    assert agreements.get(world.admin, agreement_id, as_of=datetime.now(UTC)) == withdrawn
    # The same moment written with another offset is the same moment.
    berlin = after_proposal.astimezone(timezone(timedelta(hours=2)))
    assert agreements.get(world.admin, agreement_id, as_of=berlin) == proposed
    # A version and a moment together: the earlier of the two.
    assert agreements.get(world.admin, agreement_id, version=3, as_of=after_declining) == declined
    assert agreements.get(world.admin, agreement_id, version=1, as_of=after_declining) == proposed
    with pytest.raises(AgreementNotFoundError):
        agreements.get(world.admin, agreement_id, as_of=before_creation)


def test_as_of_a_moment_is_seen_by_a_party_too(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    proposed = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    moment = between()
    agreements.decline(trio.firm.ctx(), proposed["id"], "nein")

    assert agreements.get(trio.firm.principal, proposed["id"], as_of=moment) == proposed
