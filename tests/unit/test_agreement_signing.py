"""Signing a proposal until it is concluded, declining it, and withdrawing it."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tris.domain.agreement import Agreement, AgreementStatus, RevisionState
from tris.domain.errors import (
    AgreementNotProposedError,
    AlreadySignedError,
    InvalidSignatureError,
    MissingReasonError,
    NoPendingAmendmentError,
    NotAPartyError,
    NotProposerError,
    RevisionDeclinedError,
    RevisionNotFoundError,
    SigningKeyNotOwnedError,
    SigningKeyRevokedError,
    StaleRevisionError,
)
from tris.domain.signing import key_registration

# -- signing -------------------------------------------------------------------------------------


def test_signing_by_every_party_concludes_the_agreement(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))

    assert state.sign(agreement) is False
    assert business.sign(agreement) is False
    assert agreement.status is AgreementStatus.PROPOSED
    assert civil.sign(agreement) is True

    assert agreement.status is AgreementStatus.IN_FORCE
    assert agreement.in_force_revision == 1
    assert agreement.in_force is agreement.latest
    assert agreement.latest.state is RevisionState.IN_FORCE
    assert agreement.latest.fully_signed()
    record = agreement.latest.signatures[business.id]
    assert record.key_id == business.key_id
    assert record.actor == business.actor
    events = agreement.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Proposed",
        "Signed",
        "Signed",
        "Signed",
        "Concluded",
    ]
    assert isinstance(events[-1], Agreement.Concluded)
    assert events[-1].revision == 1


def test_a_party_may_sign_with_any_of_its_registered_keys(world, state, business) -> None:
    second = Ed25519PrivateKey.generate()
    key_id = business.party.register_signing_key(
        business.actor, *key_registration(second, business.id)
    )
    agreement = world.propose(state, world.draft(state, business))
    key = business.party.key_for_signing(key_id, signer=business.id)

    agreement.sign(business.actor, 1, key, second.sign(agreement.payload(1)))

    assert agreement.latest.signatures[business.id].key_id == key_id


def test_signing_a_stale_revision_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    payload_1 = agreement.payload(1)
    world.revise(agreement, business, world.draft(state, business))

    with pytest.raises(StaleRevisionError):
        agreement.sign(state.actor, 1, state.key(), state.signature(payload_1))


@pytest.mark.parametrize("revision", [0, 2, -1])
def test_signing_an_unknown_revision_is_refused(world, state, business, revision) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(RevisionNotFoundError):
        agreement.sign(state.actor, revision, state.key(), state.signature(b"anything"))


def test_a_forged_signature_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 1, state.key(), os.urandom(64))


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_is_refused(world, state, business, length) -> None:
    agreement = world.propose(state, world.draft(state, business))
    signature = state.signature(agreement.payload(1)) + b"\0"
    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 1, state.key(), signature[:length])


def test_a_signature_over_other_bytes_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    almost = agreement.payload(1).replace(b'"revision":1', b'"revision":1 ')
    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 1, state.key(), state.signature(almost))


def test_a_signature_of_another_revisions_payload_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    payload_1 = agreement.payload(1)
    world.revise(agreement, business, world.draft(state, business))

    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 2, state.key(), state.signature(payload_1))


def test_a_signature_for_the_same_content_of_another_agreement_is_refused(
    world, state, business
) -> None:
    draft = world.draft(state, business)
    first = world.propose(state, draft)
    second = world.propose(state, draft)
    assert first.latest.content == second.latest.content

    with pytest.raises(InvalidSignatureError):
        second.sign(state.actor, 1, state.key(), state.signature(first.payload(1)))


def test_a_signature_made_by_another_key_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 1, state.key(), business.signature(agreement.payload(1)))


def test_signing_with_another_partys_key_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(SigningKeyNotOwnedError):
        agreement.sign(state.actor, 1, business.key(), business.signature(agreement.payload(1)))


def test_a_revoked_key_cannot_be_used_to_sign(world, state, business) -> None:
    world.propose(state, world.draft(state, business))
    state.party.revoke_signing_key(state.actor, state.key_id)
    with pytest.raises(SigningKeyRevokedError):
        state.key()


def test_signing_twice_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    state.sign(agreement)
    with pytest.raises(AlreadySignedError):
        state.sign(agreement)


def test_a_non_party_cannot_sign(world, state, business, outsider) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(NotAPartyError):
        outsider.sign(agreement)


def test_a_revision_resets_the_signatures(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))
    state.sign(agreement)
    business.sign(agreement)

    world.revise(agreement, civil, world.draft(state, business, civil))

    assert agreement.latest.signatures == {}
    assert civil.sign(agreement) is False
    assert agreement.status is AgreementStatus.PROPOSED
    assert state.sign(agreement) is False
    assert business.sign(agreement) is True
    assert agreement.in_force_revision == 2
    assert agreement.revision(1).state is RevisionState.SUPERSEDED
    assert set(agreement.revision(1).signatures) == {state.id, business.id}


def test_a_withdrawn_proposal_cannot_be_signed(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.withdraw(state.actor, "Kein Bedarf mehr")
    with pytest.raises(AgreementNotProposedError):
        business.sign(agreement)


def test_an_agreement_in_force_without_pending_amendment_cannot_be_signed(
    world, state, business
) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    with pytest.raises(NoPendingAmendmentError):
        state.sign(agreement, 1)


def test_a_refused_signature_records_no_event(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.collect_events()
    with pytest.raises(InvalidSignatureError):
        agreement.sign(state.actor, 1, state.key(), os.urandom(64))
    assert agreement.collect_events() == []
    assert agreement.latest.signatures == {}


# -- declining -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_declining_needs_a_reason(world, state, business, reason) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(MissingReasonError):
        agreement.decline(business.actor, reason)


def test_a_decliner_can_no_longer_sign_the_revision(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.decline(business.actor, "Zu viele Stunden")

    assert dict(agreement.latest.declined) == {business.id: "Zu viele Stunden"}
    with pytest.raises(RevisionDeclinedError):
        business.sign(agreement)


def test_a_declined_revision_cannot_conclude(world, state, business, civil) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))
    agreement.decline(civil.actor, "Nicht mit uns")

    assert state.sign(agreement) is False
    assert business.sign(agreement) is False

    assert agreement.status is AgreementStatus.PROPOSED
    assert agreement.in_force_revision is None


def test_a_new_revision_clears_a_declination(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.decline(business.actor, "Zu viele Stunden")

    world.revise(agreement, state, world.draft(state, business))

    assert agreement.latest.declined == {}
    assert dict(agreement.revision(1).declined) == {business.id: "Zu viele Stunden"}
    world.sign_all(agreement)
    assert agreement.status is AgreementStatus.IN_FORCE


def test_declining_twice_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    agreement.decline(business.actor, "Nein")
    with pytest.raises(RevisionDeclinedError):
        agreement.decline(business.actor, "Immer noch nein")


def test_declining_after_signing_is_refused(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    business.sign(agreement)
    with pytest.raises(AlreadySignedError):
        agreement.decline(business.actor, "Doch nicht")


def test_a_non_party_cannot_decline(world, state, business, outsider) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(NotAPartyError):
        agreement.decline(outsider.actor, "Einmischung")


def test_an_agreement_in_force_cannot_be_declined(world, state, business) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    with pytest.raises(AgreementNotProposedError):
        agreement.decline(business.actor, "Zu spät")


# -- withdrawing ---------------------------------------------------------------------------------


def test_the_proposer_may_withdraw_a_proposal(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))

    agreement.withdraw(state.actor, "Kein Bedarf mehr")

    assert agreement.status is AgreementStatus.WITHDRAWN
    assert isinstance(agreement.collect_events()[-1], Agreement.Withdrawn)


def test_only_the_proposer_may_withdraw(world, state, business) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(NotProposerError):
        agreement.withdraw(business.actor, "Wir wollen nicht")
    assert agreement.status is AgreementStatus.PROPOSED


def test_a_proposer_dropped_by_a_revision_cannot_withdraw_the_others_proposal(
    world, state, business, civil
) -> None:
    agreement = world.propose(state, world.draft(state, business, civil))
    world.revise(agreement, business, world.draft(business, civil))

    with pytest.raises(NotAPartyError):
        agreement.withdraw(state.actor, "Dann eben gar nicht")
    assert agreement.status is AgreementStatus.PROPOSED


def test_a_non_party_cannot_withdraw(world, state, business, outsider) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(NotAPartyError):
        agreement.withdraw(outsider.actor, "Einmischung")


@pytest.mark.parametrize("reason", ["", " \t"])
def test_withdrawing_needs_a_reason(world, state, business, reason) -> None:
    agreement = world.propose(state, world.draft(state, business))
    with pytest.raises(MissingReasonError):
        agreement.withdraw(state.actor, reason)


def test_withdrawing_needs_a_proposal(world, state, business) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    with pytest.raises(AgreementNotProposedError):
        agreement.withdraw(state.actor, "Zu spät")

    withdrawn = world.propose(state, world.draft(state, business))
    withdrawn.withdraw(state.actor, "Kein Bedarf mehr")
    with pytest.raises(AgreementNotProposedError):
        withdrawn.withdraw(state.actor, "Noch einmal")
