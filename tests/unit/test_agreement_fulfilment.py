"""Recording, confirming and disputing fulfilments; completion; termination."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from eventsourcing.domain import Snapshot

from tris.domain.agreement import (
    Agreement,
    AgreementStatus,
    Evidence,
    Fulfilment,
    FulfilmentStatus,
    RevisionState,
    fulfilment_ledger,
)
from tris.domain.errors import (
    AgreementNotInForceError,
    CommitmentAlreadyFulfilledError,
    CommitmentNotFoundError,
    FulfilmentAlreadySettledError,
    FulfilmentNotFoundError,
    InvalidInputError,
    InvalidQuantityError,
    MissingReasonError,
    NotAPartyError,
    NotDebtorError,
    SelfConfirmationError,
)
from tris.domain.values import CommitmentStatus
from tris.storage.eventlog import TrisApplication

DUE = date(2026, 6, 30)
DELIVERED = date(2026, 6, 1)
SHA = "ab" * 32


@pytest.fixture
def agreement(world, state, business, civil) -> Agreement:
    """In force: business owes civil society 10 hours (C1, due end of June), state 2 days (C2)."""
    return world.in_force(
        state,
        world.draft(
            state,
            business,
            civil,
            commitments=(
                world.commitment(business, civil, due_on=DUE),
                world.commitment(state, None, kind="space", unit="days", quantity="2"),
            ),
        ),
    )


def deliver(agreement, org, commitment_id, quantity):
    return agreement.record_fulfilment(org.actor, commitment_id, quantity, DELIVERED, "geliefert")


def status(agreement, commitment_id, today=DELIVERED):
    commitment = agreement.in_force.content.commitment(commitment_id)
    return agreement.commitment_status(commitment, today)


# -- recording -----------------------------------------------------------------------------------


def test_the_debtor_records_a_delivery(agreement, business) -> None:
    agreement.collect_events()
    evidence = Evidence("https://example.org/stundenzettel.pdf", SHA)

    fulfilment_id = agreement.record_fulfilment(
        business.actor, "C1", "2.5", DELIVERED, "Kochkurs", evidence
    )

    assert fulfilment_id == "F1"
    fulfilment = agreement.open_fulfilments["F1"]
    assert agreement.fulfilment_status("F1") is FulfilmentStatus.RECORDED
    assert fulfilment.commitment_id == "C1"
    assert fulfilment.debtor == business.id
    assert fulfilment.quantity == Decimal("2.5")
    assert fulfilment.delivered_on == DELIVERED
    assert fulfilment.evidence == evidence
    assert fulfilment.status is FulfilmentStatus.RECORDED
    assert fulfilment.recorded_by == business.actor
    [recorded] = agreement.collect_events()
    assert isinstance(recorded, Agreement.FulfilmentRecorded)
    assert deliver(agreement, business, "C1", "1") == "F2"


def test_a_proposal_takes_no_fulfilments(world, state, business) -> None:
    proposal = world.propose(state, world.draft(state, business))
    with pytest.raises(AgreementNotInForceError):
        deliver(proposal, state, "C1", "1")


def test_only_the_debtor_records_a_delivery(agreement, civil, state) -> None:
    with pytest.raises(NotDebtorError):
        deliver(agreement, civil, "C1", "1")
    with pytest.raises(NotDebtorError):
        deliver(agreement, state, "C1", "1")


def test_a_non_party_records_nothing(agreement, outsider) -> None:
    with pytest.raises(NotAPartyError):
        deliver(agreement, outsider, "C1", "1")


def test_a_delivery_against_an_unknown_commitment_is_refused(agreement, business) -> None:
    with pytest.raises(CommitmentNotFoundError):
        deliver(agreement, business, "C9", "1")


@pytest.mark.parametrize("quantity", ["0", "-2", "NaN", "viel", 1.5])
def test_a_delivered_quantity_must_be_a_decimal_greater_than_zero(
    agreement, business, quantity
) -> None:
    with pytest.raises(InvalidQuantityError):
        deliver(agreement, business, "C1", quantity)


def test_a_note_is_bounded(agreement, business) -> None:
    with pytest.raises(InvalidInputError, match="note"):
        agreement.record_fulfilment(business.actor, "C1", "1", DELIVERED, "x" * 5001)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/a.pdf", "example.org/a.pdf", "", "https://" + "a" * 2000]
)
def test_evidence_needs_an_http_url(agreement, business, url) -> None:
    with pytest.raises(InvalidInputError, match="url"):
        agreement.record_fulfilment(business.actor, "C1", "1", DELIVERED, "", Evidence(url, SHA))


@pytest.mark.parametrize("digest", ["", "ab" * 31, "ab" * 33, "zz" * 32, "ab" * 31 + "a "])
def test_evidence_needs_a_sha256_of_64_hex_digits(agreement, business, digest) -> None:
    with pytest.raises(InvalidInputError, match="sha256"):
        agreement.record_fulfilment(
            business.actor, "C1", "1", DELIVERED, "", Evidence("https://example.org/a", digest)
        )


def test_evidence_digests_may_be_upper_case(agreement, business) -> None:
    evidence = Evidence("http://example.org/a", "AB" * 32)
    assert agreement.record_fulfilment(business.actor, "C1", "1", DELIVERED, "", evidence) == "F1"


# -- confirming and disputing --------------------------------------------------------------------


def test_a_commitment_goes_from_open_to_partially_fulfilled_to_fulfilled(
    agreement, business, civil
) -> None:
    assert status(agreement, "C1") is CommitmentStatus.OPEN

    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "4"))
    assert status(agreement, "C1") is CommitmentStatus.PARTIALLY_FULFILLED
    assert agreement.confirmed_quantity("C1") == Decimal(4)

    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "6"))
    assert status(agreement, "C1") is CommitmentStatus.FULFILLED
    assert agreement.confirmed_quantity("C1") == Decimal(10)
    assert "F2" not in agreement.open_fulfilments
    assert agreement.fulfilment_status("F2") is FulfilmentStatus.CONFIRMED
    assert fulfilment_ledger(agreement.pending_events)["F2"].settled_by == civil.actor


def test_recorded_but_unconfirmed_deliveries_do_not_count(agreement, business) -> None:
    deliver(agreement, business, "C1", "10")
    assert status(agreement, "C1") is CommitmentStatus.OPEN
    assert agreement.confirmed_quantity("C1") == 0


def test_disputed_deliveries_do_not_count(agreement, business, civil) -> None:
    fulfilment = deliver(agreement, business, "C1", "10")

    agreement.dispute_fulfilment(civil.actor, fulfilment, "Niemand war da")

    assert agreement.fulfilment_status(fulfilment) is FulfilmentStatus.DISPUTED
    settled = fulfilment_ledger(agreement.pending_events)[fulfilment]
    assert settled.status is FulfilmentStatus.DISPUTED
    assert settled.reason == "Niemand war da"
    assert settled.settled_by == civil.actor
    assert agreement.confirmed_quantity("C1") == 0
    assert status(agreement, "C1") is CommitmentStatus.OPEN
    assert isinstance(agreement.collect_events()[-1], Agreement.FulfilmentDisputed)


def test_any_other_party_may_confirm(agreement, business, state) -> None:
    agreement.confirm_fulfilment(state.actor, deliver(agreement, business, "C1", "3"))
    assert agreement.confirmed_quantity("C1") == Decimal(3)


def test_the_debtor_cannot_confirm_its_own_delivery(agreement, business) -> None:
    fulfilment = deliver(agreement, business, "C1", "3")
    with pytest.raises(SelfConfirmationError):
        agreement.confirm_fulfilment(business.actor, fulfilment)


def test_the_debtor_cannot_dispute_its_own_delivery(agreement, business) -> None:
    fulfilment = deliver(agreement, business, "C1", "3")
    with pytest.raises(SelfConfirmationError):
        agreement.dispute_fulfilment(business.actor, fulfilment, "Doch nicht")


def test_a_non_party_cannot_settle_a_delivery(agreement, business, outsider) -> None:
    fulfilment = deliver(agreement, business, "C1", "3")
    with pytest.raises(NotAPartyError):
        agreement.confirm_fulfilment(outsider.actor, fulfilment)
    with pytest.raises(NotAPartyError):
        agreement.dispute_fulfilment(outsider.actor, fulfilment, "Einmischung")


def test_settling_an_unknown_fulfilment_is_refused(agreement, civil) -> None:
    with pytest.raises(FulfilmentNotFoundError):
        agreement.confirm_fulfilment(civil.actor, "F1")
    with pytest.raises(FulfilmentNotFoundError):
        agreement.dispute_fulfilment(civil.actor, "F1", "Gibt es nicht")


@pytest.mark.parametrize(
    "fulfilment_id", ["F0", "F3", "F01", "f1", "1", "F", "F1x", "F²", "F" + "9" * 40]
)
def test_only_ids_the_agreement_issued_name_a_fulfilment(
    agreement, business, civil, fulfilment_id
) -> None:
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "1"))
    deliver(agreement, business, "C1", "1")
    with pytest.raises(FulfilmentNotFoundError):
        agreement.fulfilment_status(fulfilment_id)
    with pytest.raises(FulfilmentNotFoundError):
        agreement.confirm_fulfilment(civil.actor, fulfilment_id)


def test_a_settled_fulfilment_says_how_it_was_settled(agreement, business, civil) -> None:
    confirmed = deliver(agreement, business, "C1", "1")
    agreement.confirm_fulfilment(civil.actor, confirmed)
    disputed = deliver(agreement, business, "C1", "1")
    agreement.dispute_fulfilment(civil.actor, disputed, "Nicht erschienen")

    with pytest.raises(FulfilmentAlreadySettledError, match="was confirmed already"):
        agreement.dispute_fulfilment(civil.actor, confirmed, "Doch nicht")
    with pytest.raises(FulfilmentAlreadySettledError, match="was disputed already"):
        agreement.confirm_fulfilment(business.actor, disputed)


def test_the_aggregate_keeps_only_open_fulfilments_and_the_ledger_keeps_all(
    agreement, business, civil
) -> None:
    agreement.collect_events()
    first = deliver(agreement, business, "C1", "2")
    second = deliver(agreement, business, "C1", "3")
    third = deliver(agreement, business, "C1", "4")
    agreement.confirm_fulfilment(civil.actor, first)
    agreement.dispute_fulfilment(civil.actor, second, "Falsche Menge")

    assert list(agreement.open_fulfilments) == [third]
    assert agreement.disputed_fulfilments == [second]
    ledger = fulfilment_ledger(agreement.collect_events())
    assert [(f.id, f.quantity, f.status) for f in ledger.values()] == [
        (first, Decimal(2), FulfilmentStatus.CONFIRMED),
        (second, Decimal(3), FulfilmentStatus.DISPUTED),
        (third, Decimal(4), FulfilmentStatus.RECORDED),
    ]
    assert ledger[third] == agreement.open_fulfilments[third]


def test_a_snapshot_of_the_first_state_version_is_upcast(business, civil) -> None:
    def fulfilment(fid: str, status: FulfilmentStatus) -> Fulfilment:
        return Fulfilment(
            id=fid,
            commitment_id="C1",
            debtor=business.id,
            quantity=Decimal(1),
            delivered_on=DELIVERED,
            note="",
            evidence=None,
            recorded_by=business.actor,
            status=status,
            settled_by=None if status is FulfilmentStatus.RECORDED else civil.actor,
        )

    recorded = fulfilment("F3", FulfilmentStatus.RECORDED)
    state = {
        "fulfilments": {
            "F1": fulfilment("F1", FulfilmentStatus.CONFIRMED),
            "F2": fulfilment("F2", FulfilmentStatus.DISPUTED),
            "F3": recorded,
        },
        "fulfilment_counter": 3,
    }

    Agreement.upcast_v1_v2(state)

    assert state == {
        "open_fulfilments": {"F3": recorded},
        "disputed_fulfilments": ["F2"],
        "fulfilment_counter": 3,
    }


def test_a_fulfilment_is_settled_once(agreement, business, civil, state) -> None:
    confirmed = deliver(agreement, business, "C1", "3")
    agreement.confirm_fulfilment(civil.actor, confirmed)
    disputed = deliver(agreement, business, "C1", "3")
    agreement.dispute_fulfilment(civil.actor, disputed, "Nicht erschienen")

    for fulfilment in (confirmed, disputed):
        with pytest.raises(FulfilmentAlreadySettledError):
            agreement.confirm_fulfilment(state.actor, fulfilment)
        with pytest.raises(FulfilmentAlreadySettledError):
            agreement.dispute_fulfilment(state.actor, fulfilment, "Auch nicht")
    assert agreement.confirmed_quantity("C1") == Decimal(3)


@pytest.mark.parametrize("reason", ["", "  "])
def test_a_dispute_needs_a_reason(agreement, business, civil, reason) -> None:
    fulfilment = deliver(agreement, business, "C1", "3")
    with pytest.raises(MissingReasonError):
        agreement.dispute_fulfilment(civil.actor, fulfilment, reason)
    assert agreement.fulfilment_status(fulfilment) is FulfilmentStatus.RECORDED


def test_nothing_more_is_recorded_against_a_fulfilled_commitment(
    agreement, business, civil
) -> None:
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "10"))
    assert agreement.status is AgreementStatus.IN_FORCE
    with pytest.raises(CommitmentAlreadyFulfilledError):
        deliver(agreement, business, "C1", "1")


# -- overdue -------------------------------------------------------------------------------------


def test_a_commitment_is_overdue_only_after_its_due_date(agreement) -> None:
    assert status(agreement, "C1", today=DUE) is CommitmentStatus.OPEN
    assert status(agreement, "C1", today=date(2026, 7, 1)) is CommitmentStatus.OVERDUE


def test_a_commitment_without_due_date_is_never_overdue(agreement) -> None:
    assert status(agreement, "C2", today=date(2099, 1, 1)) is CommitmentStatus.OPEN


def test_a_partly_fulfilled_commitment_past_its_due_date_is_overdue(
    agreement, business, civil
) -> None:
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "9"))
    assert status(agreement, "C1", today=DUE) is CommitmentStatus.PARTIALLY_FULFILLED
    assert status(agreement, "C1", today=date(2026, 7, 1)) is CommitmentStatus.OVERDUE


def test_overdue_is_judged_against_the_date_given_not_the_wall_clock(
    world, state, business
) -> None:
    long_ago = date(2001, 1, 31)
    agreement = world.in_force(
        state,
        world.draft(
            state, business, commitments=(world.commitment(state, business, due_on=long_ago),)
        ),
    )
    commitment = agreement.in_force.content.commitment("C1")

    assert agreement.commitment_status(commitment, date(2001, 1, 30)) is CommitmentStatus.OPEN
    assert agreement.commitment_status(commitment, date(2001, 2, 1)) is CommitmentStatus.OVERDUE


def test_a_fulfilled_commitment_is_never_overdue(agreement, business, civil) -> None:
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "10"))
    assert status(agreement, "C1", today=date(2030, 1, 1)) is CommitmentStatus.FULFILLED


# -- completion ----------------------------------------------------------------------------------


def test_the_agreement_completes_when_every_commitment_is_fulfilled(
    agreement, business, civil, state
) -> None:
    hours = deliver(agreement, business, "C1", "10")
    assert agreement.confirm_fulfilment(civil.actor, hours) is False
    first_day = deliver(agreement, state, "C2", "1")
    assert agreement.confirm_fulfilment(business.actor, first_day) is False
    agreement.collect_events()

    assert agreement.confirm_fulfilment(civil.actor, deliver(agreement, state, "C2", "1")) is True

    assert agreement.status is AgreementStatus.COMPLETED
    assert [type(e).__name__ for e in agreement.collect_events()] == [
        "FulfilmentRecorded",
        "FulfilmentConfirmed",
        "Completed",
    ]


def test_a_completed_agreement_takes_no_more_fulfilments_or_changes(
    world, agreement, business, civil, state
) -> None:
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "12"))
    agreement.confirm_fulfilment(civil.actor, deliver(agreement, state, "C2", "2"))
    assert agreement.status is AgreementStatus.COMPLETED

    with pytest.raises(AgreementNotInForceError):
        deliver(agreement, business, "C1", "1")
    with pytest.raises(AgreementNotInForceError):
        agreement.terminate(state.actor, "Zu spät")
    with pytest.raises(AgreementNotInForceError):
        world.amend(agreement, state, world.draft(state, business, civil))


# -- termination ---------------------------------------------------------------------------------


def test_any_party_may_terminate_an_agreement_in_force(agreement, civil) -> None:
    agreement.terminate(civil.actor, "Verein aufgelöst")

    assert agreement.status is AgreementStatus.TERMINATED
    assert agreement.termination_reason == "Verein aufgelöst"
    assert isinstance(agreement.collect_events()[-1], Agreement.Terminated)


def test_a_proposal_cannot_be_terminated(world, state, business) -> None:
    proposal = world.propose(state, world.draft(state, business))
    with pytest.raises(AgreementNotInForceError):
        proposal.terminate(state.actor, "Lieber zurückziehen")


def test_a_non_party_cannot_terminate(agreement, outsider) -> None:
    with pytest.raises(NotAPartyError):
        agreement.terminate(outsider.actor, "Einmischung")
    assert agreement.status is AgreementStatus.IN_FORCE


@pytest.mark.parametrize("reason", ["", "\n"])
def test_terminating_needs_a_reason(agreement, state, reason) -> None:
    with pytest.raises(MissingReasonError):
        agreement.terminate(state.actor, reason)


def test_terminating_twice_is_refused(agreement, state, civil) -> None:
    agreement.terminate(state.actor, "Projekt beendet")
    with pytest.raises(AgreementNotInForceError):
        agreement.terminate(civil.actor, "Noch einmal")


def test_termination_rejects_the_pending_amendment(world, agreement, state, business, civil):
    draft = world.draft(
        state,
        business,
        civil,
        commitments=(world.commitment(business, civil, quantity="20", commitment_id="C1"),),
    )
    world.amend(agreement, business, draft)

    agreement.terminate(civil.actor, "Verein aufgelöst")

    assert agreement.pending_amendment is None
    assert agreement.revision(2).state is RevisionState.REJECTED
    assert agreement.in_force_revision == 1
    with pytest.raises(AgreementNotInForceError):
        agreement.reject_amendment(state.actor, 2, "Ohnehin vorbei")


def test_a_terminated_agreement_takes_no_fulfilments(agreement, business, civil) -> None:
    fulfilment = deliver(agreement, business, "C1", "1")
    agreement.terminate(civil.actor, "Verein aufgelöst")

    with pytest.raises(AgreementNotInForceError):
        deliver(agreement, business, "C1", "1")
    with pytest.raises(AgreementNotInForceError):
        agreement.confirm_fulfilment(civil.actor, fulfilment)


def test_a_snapshot_does_not_grow_with_settled_deliveries(agreement, business, civil) -> None:
    """What makes an agreement with 10,000 events load as fast as one with 10."""
    mapper = TrisApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper

    def snapshot_bytes() -> int:
        return len(mapper.to_stored_event(Snapshot.take(agreement)).state)

    for _ in range(5):
        agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "0.01"))
    agreement.dispute_fulfilment(civil.actor, deliver(agreement, business, "C1", "1"), "Nein")
    after_a_few = snapshot_bytes()
    for _ in range(200):
        agreement.confirm_fulfilment(civil.actor, deliver(agreement, business, "C1", "0.01"))

    assert agreement.confirmed_quantity("C1") == Decimal("2.05")
    assert agreement.open_fulfilments == {}
    # Only the counter's and the total's digits grew; 200 kept fulfilments were ~60 KB.
    assert snapshot_bytes() - after_a_few < 16
