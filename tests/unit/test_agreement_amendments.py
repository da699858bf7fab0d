"""Amending an agreement in force: proposal, signatures, adoption and rejection."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tris.domain.agreement import Agreement, AgreementStatus, RevisionKind, RevisionState
from tris.domain.errors import (
    AgreementNotInForceError,
    AmendmentPendingError,
    CommitmentNotFoundError,
    MissingReasonError,
    NoPendingAmendmentError,
    NotAPartyError,
    ProposerNotAPartyError,
    StaleRevisionError,
)
from tris.domain.values import CommitmentStatus, SectorMix

DELIVERED = date(2026, 4, 1)
TODAY = date(2026, 4, 2)


@pytest.fixture
def agreement(world, state, business, civil) -> Agreement:
    """A trisectoral agreement in force: the business owes the association ten hours (C1)."""
    return world.in_force(
        state,
        world.draft(state, business, civil, commitments=(world.commitment(business, civil),)),
    )


def more_hours(world, *parties, quantity="20", extra=()):
    """A draft that keeps C1 (business owes civil society) with another quantity."""
    business, civil = parties[1], parties[2]
    kept = world.commitment(business, civil, quantity=quantity, commitment_id="C1")
    return world.draft(*parties, commitments=(kept, *extra))


def test_an_amendment_is_a_pending_revision(world, agreement, state, business, civil) -> None:
    number = world.amend(agreement, business, more_hours(world, state, business, civil))

    assert number == 2
    assert agreement.pending_amendment == 2
    assert agreement.latest.kind is RevisionKind.AMENDMENT
    assert agreement.latest.state is RevisionState.OPEN
    assert agreement.latest.rationale == "Mehr Stunden"
    assert agreement.status is AgreementStatus.IN_FORCE
    assert agreement.in_force_revision == 1
    assert agreement.current.content.commitment("C1").quantity == Decimal(10)


def test_only_an_agreement_in_force_can_be_amended(world, state, business, civil) -> None:
    proposal = world.propose(state, world.draft(state, business, civil))
    with pytest.raises(AgreementNotInForceError):
        world.amend(proposal, state, world.draft(state, business, civil))


def test_a_terminated_agreement_cannot_be_amended(world, agreement, state, business, civil) -> None:
    agreement.terminate(state.actor, "Projekt beendet")
    with pytest.raises(AgreementNotInForceError):
        world.amend(agreement, state, more_hours(world, state, business, civil))


def test_only_a_party_may_propose_an_amendment(
    world, agreement, state, business, civil, outsider
) -> None:
    with pytest.raises(NotAPartyError):
        world.amend(agreement, outsider, more_hours(world, state, business, civil, outsider))


@pytest.mark.parametrize("rationale", ["", "  "])
def test_an_amendment_needs_a_rationale(world, agreement, state, business, civil, rationale):
    with pytest.raises(MissingReasonError):
        agreement.propose_amendment(
            state.actor, more_hours(world, state, business, civil), rationale, world.sectors()
        )


def test_an_amendment_must_keep_its_author_among_the_parties(
    world, agreement, state, business, civil
) -> None:
    draft = world.draft(business, civil, commitments=(world.commitment(business, civil),))
    with pytest.raises(ProposerNotAPartyError):
        world.amend(agreement, state, draft)


def test_only_one_amendment_may_be_pending(world, agreement, state, business, civil) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    with pytest.raises(AmendmentPendingError):
        world.amend(agreement, civil, more_hours(world, state, business, civil, quantity="30"))
    assert len(agreement.revisions) == 2


def test_an_amendment_takes_effect_when_every_party_signed_it(
    world, agreement, state, business, civil
) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    agreement.collect_events()

    assert state.sign(agreement, 2) is False
    assert business.sign(agreement, 2) is False
    assert agreement.in_force_revision == 1
    assert civil.sign(agreement, 2) is True

    assert agreement.status is AgreementStatus.IN_FORCE
    assert agreement.in_force_revision == 2
    assert agreement.pending_amendment is None
    assert agreement.revision(1).state is RevisionState.SUPERSEDED
    assert agreement.revision(2).state is RevisionState.IN_FORCE
    assert agreement.current.content.commitment("C1").quantity == Decimal(20)
    events = agreement.collect_events()
    assert [type(e).__name__ for e in events] == ["Signed", "Signed", "Signed", "AmendmentAdopted"]
    assert isinstance(events[-1], Agreement.AmendmentAdopted)
    assert events[-1].revision == 2


def test_a_party_added_by_an_amendment_must_sign_it(world, state, business, civil) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    assert agreement.sector_mix is SectorMix.BISECTORAL
    draft = world.draft(
        state,
        business,
        civil,
        commitments=(world.commitment(state, business, commitment_id="C1"),),
    )
    world.amend(agreement, state, draft)

    state.sign(agreement)
    business.sign(agreement)
    assert agreement.in_force_revision == 1
    assert agreement.sector_mix is SectorMix.BISECTORAL

    assert civil.sign(agreement) is True
    assert agreement.in_force_revision == 2
    assert agreement.parties == (state.id, business.id, civil.id)
    assert agreement.sector_mix is SectorMix.TRISECTORAL


def drop_state(world, agreement, business, civil) -> None:
    """The business proposes to go on without the district office."""
    draft = world.draft(
        business, civil, commitments=(world.commitment(business, civil, commitment_id="C1"),)
    )
    world.amend(agreement, business, draft)


def test_an_amendment_that_drops_a_party_needs_its_signature_too(
    world, agreement, state, business, civil
) -> None:
    """The attack: B and C amend the parties to [B, C] and sign; S never agreed."""
    drop_state(world, agreement, business, civil)

    assert business.sign(agreement) is False
    assert civil.sign(agreement) is False
    assert agreement.in_force_revision == 1
    assert agreement.parties == (state.id, business.id, civil.id)

    assert state.sign(agreement) is True
    assert agreement.in_force_revision == 2
    assert agreement.parties == (business.id, civil.id)


def test_a_dropped_party_keeps_every_right_until_the_amendment_is_in_force(
    world, agreement, state, business, civil
) -> None:
    drop_state(world, agreement, business, civil)
    business.sign(agreement)
    civil.sign(agreement)

    agreement.reject_amendment(state.actor, agreement.pending_amendment, "nicht ohne uns")
    assert agreement.in_force_revision == 1
    agreement.terminate(state.actor, "Wir beenden die Vereinbarung")
    assert agreement.status is AgreementStatus.TERMINATED


def test_a_dropped_party_may_terminate_while_the_amendment_is_pending(
    world, agreement, state, business, civil
) -> None:
    drop_state(world, agreement, business, civil)
    business.sign(agreement)

    agreement.terminate(state.actor, "Wir beenden die Vereinbarung")
    assert agreement.status is AgreementStatus.TERMINATED


def test_once_in_force_the_amendment_leaves_the_dropped_party_out(
    world, agreement, state, business, civil
) -> None:
    drop_state(world, agreement, business, civil)
    for party in (business, civil, state):
        party.sign(agreement)

    with pytest.raises(NotAPartyError):
        agreement.terminate(state.actor, "zu spät")


def test_the_revision_in_force_cannot_be_signed_while_an_amendment_is_pending(
    world, agreement, state, business, civil
) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    with pytest.raises(StaleRevisionError):
        state.sign(agreement, 1)


def test_any_party_may_reject_the_pending_amendment(
    world, agreement, state, business, civil
) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    state.sign(agreement)

    agreement.reject_amendment(civil.actor, 2, "Zu viele Stunden")

    assert agreement.pending_amendment is None
    assert agreement.revision(2).state is RevisionState.REJECTED
    assert agreement.in_force_revision == 1
    assert agreement.revision(1).state is RevisionState.IN_FORCE
    assert isinstance(agreement.collect_events()[-1], Agreement.AmendmentRejected)
    with pytest.raises(NoPendingAmendmentError):
        business.sign(agreement, 2)


@pytest.mark.parametrize("number", [1, 3, 99])
def test_rejecting_another_number_than_the_pending_amendment_is_refused(
    world, agreement, state, business, civil, number
) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    with pytest.raises(NoPendingAmendmentError):
        agreement.reject_amendment(civil.actor, number, "Nein")
    assert agreement.pending_amendment == 2


def test_rejecting_without_a_pending_amendment_is_refused(agreement, civil) -> None:
    with pytest.raises(NoPendingAmendmentError):
        agreement.reject_amendment(civil.actor, 2, "Nein")


def test_rejecting_an_amendment_needs_a_reason(world, agreement, state, business, civil) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    with pytest.raises(MissingReasonError):
        agreement.reject_amendment(civil.actor, 2, " ")


def test_a_non_party_cannot_reject_an_amendment(
    world, agreement, state, business, civil, outsider
) -> None:
    world.amend(agreement, business, more_hours(world, state, business, civil))
    with pytest.raises(NotAPartyError):
        agreement.reject_amendment(outsider.actor, 2, "Einmischung")


def test_a_rejected_amendment_makes_room_for_the_next(
    world, agreement, state, business, civil
) -> None:
    extra = (world.commitment(state, civil, kind="space", unit="days"),)
    world.amend(agreement, business, more_hours(world, state, business, civil, extra=extra))
    assert agreement.latest.content.commitments[1].id == "C2"
    agreement.reject_amendment(state.actor, 2, "Kein Raum frei")

    number = world.amend(agreement, civil, more_hours(world, state, business, civil, extra=extra))

    assert number == 3
    assert agreement.pending_amendment == 3
    assert [c.id for c in agreement.latest.content.commitments] == ["C1", "C3"]


def test_an_amendment_cannot_name_a_commitment_outside_the_revision_in_force(
    world, agreement, state, business, civil
) -> None:
    draft = world.draft(
        state,
        business,
        civil,
        commitments=(world.commitment(business, civil, commitment_id="C2"),),
    )
    with pytest.raises(CommitmentNotFoundError):
        world.amend(agreement, state, draft)


def test_confirmed_quantities_carry_over_to_kept_commitments(
    world, agreement, state, business, civil
) -> None:
    fulfilment = agreement.record_fulfilment(business.actor, "C1", "4", DELIVERED, "4 Stunden")
    agreement.confirm_fulfilment(civil.actor, fulfilment)
    extra = (world.commitment(state, civil, kind="space", unit="days", quantity="2"),)

    world.amend(agreement, business, more_hours(world, state, business, civil, extra=extra))
    world.sign_all(agreement)

    kept, added = agreement.in_force.content.commitments
    assert (kept.id, added.id) == ("C1", "C2")
    assert agreement.confirmed_quantity("C1") == Decimal(4)
    assert agreement.confirmed_quantity("C2") == Decimal(0)
    assert agreement.commitment_status(kept, TODAY) is CommitmentStatus.PARTIALLY_FULFILLED
    assert agreement.commitment_status(added, TODAY) is CommitmentStatus.OPEN


def test_new_commitments_of_a_pending_amendment_take_no_fulfilments(
    world, agreement, state, business, civil
) -> None:
    extra = (world.commitment(state, civil, kind="space", unit="days"),)
    world.amend(agreement, business, more_hours(world, state, business, civil, extra=extra))

    with pytest.raises(CommitmentNotFoundError):
        agreement.record_fulfilment(state.actor, "C2", "1", DELIVERED, "Raum")

    world.sign_all(agreement)
    assert agreement.record_fulfilment(state.actor, "C2", "1", DELIVERED, "Raum") == "F1"


def test_an_amendment_that_leaves_every_commitment_fulfilled_completes_the_agreement(
    world, agreement, state, business, civil
) -> None:
    fulfilment = agreement.record_fulfilment(business.actor, "C1", "6", DELIVERED, "6 Stunden")
    agreement.confirm_fulfilment(civil.actor, fulfilment)

    world.amend(agreement, civil, more_hours(world, state, business, civil, quantity="6"))
    world.sign_all(agreement)

    assert agreement.in_force_revision == 2
    assert agreement.status is AgreementStatus.COMPLETED
    assert type(agreement.collect_events()[-1]).__name__ == "Completed"
