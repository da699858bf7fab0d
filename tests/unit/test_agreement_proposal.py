"""Proposing an agreement, the rules of its content, and revising a proposal."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from tris.domain.agreement import Agreement, AgreementStatus, RevisionKind, RevisionState
from tris.domain.errors import (
    AgreementNotProposedError,
    CommitmentNotFoundError,
    CommitmentPartyError,
    InvalidContentError,
    InvalidInputError,
    InvalidQuantityError,
    InvalidTermsError,
    MissingReasonError,
    NotAPartyError,
    ProposerNotAPartyError,
    TooFewPartiesError,
)
from tris.domain.values import CommitmentKind, Sector, SectorMix, Terms

# -- proposal ------------------------------------------------------------------------------------


def test_a_proposal_is_revision_1_with_numbered_commitments(world, state, business, civil) -> None:
    draft = world.draft(
        state,
        business,
        civil,
        commitments=(
            world.commitment(business, civil, quantity="12.50", due_on=date(2026, 3, 1)),
            world.commitment(state, None, kind="space", unit="days", quantity="3"),
        ),
    )

    agreement = world.propose(state, draft)

    assert agreement.status is AgreementStatus.PROPOSED
    assert agreement.proposer == state.id
    assert agreement.in_force_revision is None
    assert [r.number for r in agreement.revisions] == [1]
    revision = agreement.latest
    assert revision.kind is RevisionKind.PROPOSAL
    assert revision.state is RevisionState.OPEN
    assert revision.author == state.actor
    assert revision.rationale is None
    assert revision.content.parties == (state.id, business.id, civil.id)
    first, second = revision.content.commitments
    assert (first.id, second.id) == ("C1", "C2")
    assert first.to_dict()["quantity"] == "12.50"
    assert first.due_on == date(2026, 3, 1)
    assert second.beneficiary is None
    assert second.kind is CommitmentKind.SPACE
    [proposed] = agreement.collect_events()
    assert isinstance(proposed, Agreement.Proposed)
    assert proposed.actor == state.actor


def test_an_agreement_needs_two_parties(world, state, business) -> None:
    single = replace(
        world.draft(state, business),
        parties=(state.id,),
        commitments=(world.commitment(state, None),),
    )
    with pytest.raises(TooFewPartiesError):
        world.propose(state, single)


def test_a_party_may_not_appear_twice(world, state, business) -> None:
    draft = world.draft(state, business, state)
    with pytest.raises(TooFewPartiesError):
        world.propose(state, draft)


def test_the_same_party_twice_is_not_two_parties(world, state) -> None:
    draft = world.draft(state, state, commitments=(world.commitment(state, None),))
    with pytest.raises(TooFewPartiesError):
        world.propose(state, draft)


def test_the_proposer_must_be_one_of_the_parties(world, state, business, civil) -> None:
    with pytest.raises(ProposerNotAPartyError):
        world.propose(state, world.draft(business, civil))


def test_a_debtor_must_be_a_party(world, state, business, outsider) -> None:
    draft = world.draft(state, business, commitments=(world.commitment(outsider, state),))
    with pytest.raises(CommitmentPartyError, match="debtor"):
        world.propose(state, draft)


def test_a_beneficiary_must_be_a_party(world, state, business, outsider) -> None:
    draft = world.draft(state, business, commitments=(world.commitment(state, outsider),))
    with pytest.raises(CommitmentPartyError, match="beneficiary"):
        world.propose(state, draft)


def test_a_commitment_to_the_public_has_no_beneficiary(world, state, business) -> None:
    draft = world.draft(state, business, commitments=(world.commitment(business, None),))

    agreement = world.propose(state, draft)

    assert agreement.latest.content.commitments[0].beneficiary is None
    assert agreement.latest.content.to_dict()["commitments"][0]["beneficiary"] is None


def test_a_party_cannot_owe_itself(world, state, business) -> None:
    draft = world.draft(state, business, commitments=(world.commitment(business, business),))
    with pytest.raises(CommitmentPartyError, match="itself"):
        world.propose(state, draft)


@pytest.mark.parametrize(
    "quantity",
    ["0", "-1", "0.000", "NaN", "sNaN", "Infinity", "-Infinity", "", "zehn", "1,5", "0.0000001"],
)
def test_a_quantity_must_be_a_decimal_greater_than_zero(world, state, business, quantity) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, quantity=quantity),)
    )
    with pytest.raises(InvalidQuantityError):
        world.propose(state, draft)


@pytest.mark.parametrize("quantity", [1.5, 10.0, True])
def test_a_quantity_is_never_a_float(world, state, business, quantity) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, quantity=quantity),)
    )
    with pytest.raises(InvalidQuantityError):
        world.propose(state, draft)


def test_a_commitment_kind_must_be_known(world, state, business) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, kind="money"),)
    )
    with pytest.raises(InvalidContentError, match="kind"):
        world.propose(state, draft)


@pytest.mark.parametrize("kind", [k.value for k in CommitmentKind])
def test_every_commitment_kind_is_accepted(world, state, business, kind) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, kind=kind),)
    )
    assert world.propose(state, draft).latest.content.commitments[0].kind.value == kind


@pytest.mark.parametrize("unit", ["", "a very long unit name that goes on and on", "h\nours"])
def test_a_unit_must_be_a_short_word(world, state, business, unit) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, unit=unit),)
    )
    with pytest.raises(InvalidContentError, match="unit"):
        world.propose(state, draft)


def test_terms_cannot_end_before_they_start(world, state, business) -> None:
    terms = Terms("Laufzeit", starts_on=date(2026, 5, 1), ends_on=date(2026, 4, 30))
    with pytest.raises(InvalidTermsError):
        world.propose(state, world.draft(state, business, terms=terms))


def test_terms_may_start_and_end_on_the_same_day(world, state, business) -> None:
    terms = Terms("Ein Aktionstag", starts_on=date(2026, 5, 1), ends_on=date(2026, 5, 1))
    agreement = world.propose(state, world.draft(state, business, terms=terms))
    assert agreement.latest.content.terms.to_dict() == {
        "text": "Ein Aktionstag",
        "starts_on": "2026-05-01",
        "ends_on": "2026-05-01",
    }


@pytest.mark.parametrize("title", ["", "   ", "x" * 501])
def test_a_title_must_be_short_and_non_empty(world, state, business, title) -> None:
    with pytest.raises(InvalidContentError, match="title"):
        world.propose(state, world.draft(state, business, title=title))


def test_a_purpose_must_not_be_empty(world, state, business) -> None:
    with pytest.raises(InvalidContentError, match="purpose"):
        world.propose(state, world.draft(state, business, purpose=" "))


def test_a_commitment_needs_a_description(world, state, business) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, description=""),)
    )
    with pytest.raises(InvalidContentError, match="description"):
        world.propose(state, draft)


def test_an_agreement_needs_at_least_one_commitment(world, state, business) -> None:
    with pytest.raises(InvalidContentError, match="commitment"):
        world.propose(state, world.draft(state, business, commitments=()))


def test_a_proposal_cannot_name_commitment_ids(world, state, business) -> None:
    draft = world.draft(
        state, business, commitments=(world.commitment(state, business, commitment_id="C1"),)
    )
    with pytest.raises(CommitmentNotFoundError):
        world.propose(state, draft)


def test_every_party_needs_a_known_sector(world, state, business) -> None:
    with pytest.raises(InvalidInputError, match="sector"):
        Agreement.propose(
            agreement_id=uuid.uuid4(),
            actor=state.actor,
            draft=world.draft(state, business),
            party_sectors={state.id: Sector.STATE},
        )


# -- sector mix ----------------------------------------------------------------------------------


def test_three_sectors_make_a_trisectoral_agreement(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))
    assert agreement.sector_mix is SectorMix.TRISECTORAL


def test_two_sectors_make_a_bisectoral_agreement(world, state, civil) -> None:
    agreement = world.propose(state, world.draft(state, civil))
    assert agreement.sector_mix is SectorMix.BISECTORAL


def test_one_sector_makes_an_intrasectoral_agreement(world, business, outsider) -> None:
    agreement = world.propose(business, world.draft(business, outsider))
    assert agreement.sector_mix is SectorMix.INTRASECTORAL


def test_the_sector_mix_counts_distinct_sectors() -> None:
    assert SectorMix.of([Sector.BUSINESS, Sector.BUSINESS, Sector.STATE]) is SectorMix.BISECTORAL
    assert SectorMix.of([Sector.STATE, Sector.BUSINESS, Sector.CIVIL_SOCIETY]) is (
        SectorMix.TRISECTORAL
    )
    assert SectorMix.of([Sector.CIVIL_SOCIETY] * 4) is SectorMix.INTRASECTORAL


# -- revisions -----------------------------------------------------------------------------------


def test_revisions_are_numbered_and_supersede_the_previous_one(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))

    assert world.revise(agreement, business, world.draft(state, business)) == 2
    assert world.revise(agreement, state, world.draft(state, business)) == 3

    assert [r.number for r in agreement.revisions] == [1, 2, 3]
    assert [r.state for r in agreement.revisions] == [
        RevisionState.SUPERSEDED,
        RevisionState.SUPERSEDED,
        RevisionState.OPEN,
    ]
    assert agreement.latest.kind is RevisionKind.REVISION
    assert agreement.latest.rationale == "Zeiten angepasst"
    assert agreement.latest.author == state.actor
    assert agreement.status is AgreementStatus.PROPOSED


def test_a_concluded_agreement_cannot_be_revised(world, state, business) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    with pytest.raises(AgreementNotProposedError):
        world.revise(agreement, state, world.draft(state, business))


def test_a_withdrawn_proposal_cannot_be_revised(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.withdraw(state.actor, "Kein Bedarf mehr")
    with pytest.raises(AgreementNotProposedError):
        world.revise(agreement, business, world.draft(state, business))


def test_only_a_party_may_revise(world, state, business, outsider) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(NotAPartyError):
        world.revise(agreement, outsider, world.draft(state, business, outsider))
    assert len(agreement.revisions) == 1


@pytest.mark.parametrize("rationale", ["", "  \n"])
def test_a_revision_needs_a_rationale(world, state, business, rationale) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(MissingReasonError):
        agreement.revise(business.actor, world.draft(state, business), rationale, world.sectors())


def test_a_revision_must_keep_its_author_among_the_parties(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))
    with pytest.raises(ProposerNotAPartyError):
        world.revise(agreement, state, world.draft(business, civil))


def test_a_revision_may_change_the_parties(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business))
    assert agreement.sector_mix is SectorMix.BISECTORAL

    world.revise(agreement, business, world.draft(state, business, civil))

    assert agreement.latest.content.parties == (state.id, business.id, civil.id)
    assert dict(agreement.latest.party_sectors) == {
        state.id: Sector.STATE,
        business.id: Sector.BUSINESS,
        civil.id: Sector.CIVIL_SOCIETY,
    }
    assert agreement.sector_mix is SectorMix.TRISECTORAL

    world.revise(agreement, civil, world.draft(business, civil))
    assert agreement.latest.content.parties == (business.id, civil.id)


def test_the_content_hash_follows_the_content(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    kept = world.commitment(state, business, commitment_id="C1")

    world.revise(agreement, business, world.draft(state, business, commitments=(kept,)))
    world.revise(
        agreement, business, world.draft(state, business, commitments=(kept,), title="Neu")
    )
    world.revise(agreement, state, world.draft(state, business, commitments=(kept,)))

    first, same, changed, again = (r.content_hash for r in agreement.revisions)
    assert len(first) == 64
    assert same == first
    assert changed != first
    assert again == first


def test_commitment_ids_named_by_a_revision_are_kept(world, state, business, civil) -> None:
    agreement = world.propose(
        state,
        world.draft(
            state,
            business,
            civil,
            commitments=(world.commitment(state, business), world.commitment(business, civil)),
        ),
    )

    world.revise(
        agreement,
        civil,
        world.draft(
            state,
            business,
            civil,
            commitments=(
                world.commitment(business, civil, quantity="20", commitment_id="C2"),
                world.commitment(civil, state),
                world.commitment(state, business, commitment_id="C1"),
            ),
        ),
    )

    ids = [c.id for c in agreement.latest.content.commitments]
    assert ids == ["C2", "C3", "C1"]
    assert str(agreement.latest.content.commitment("C2").quantity) == "20"


def test_a_revision_naming_an_unknown_commitment_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    unknown = world.commitment(state, business, commitment_id="C7")
    with pytest.raises(CommitmentNotFoundError):
        world.revise(agreement, state, world.draft(state, business, commitments=(unknown,)))


def test_a_revision_naming_one_id_twice_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    twice = (
        world.commitment(state, business, commitment_id="C1"),
        world.commitment(business, state, commitment_id="C1"),
    )
    with pytest.raises(InvalidContentError, match="twice"):
        world.revise(agreement, state, world.draft(state, business, commitments=twice))


def test_dropped_commitment_ids_are_never_reused(world, state, business) -> None:
    agreement = world.propose(
        state,
        world.draft(
            state,
            business,
            commitments=(world.commitment(state, business), world.commitment(business, state)),
        ),
    )
    keep_first = world.commitment(state, business, commitment_id="C1")

    world.revise(agreement, state, world.draft(state, business, commitments=(keep_first,)))
    world.revise(
        agreement,
        business,
        world.draft(state, business, commitments=(keep_first, world.commitment(business, state))),
    )

    assert [c.id for c in agreement.latest.content.commitments] == ["C1", "C3"]
    dropped = world.commitment(business, state, commitment_id="C2")
    with pytest.raises(CommitmentNotFoundError):
        world.revise(agreement, state, world.draft(state, business, commitments=(dropped,)))


def test_a_refused_revision_records_no_event(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.collect_events()

    with pytest.raises(MissingReasonError):
        agreement.revise(state.actor, world.draft(state, business), "", world.sectors())

    assert agreement.collect_events() == []
    assert agreement.version == 1
