"""Who may read and change agreements, enforced by the application layer itself."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.scenario import World, draft
from tests.support.trio import TODAY, Trio, busy_agreement, two_commitment_draft
from tris.application.access import Principal, Role
from tris.application.store import CommandContext
from tris.domain.errors import (
    AgreementNotFoundError,
    InvalidContentError,
    NotAPartyError,
    PartyDeactivatedError,
    PermissionDeniedError,
    SigningKeyNotFoundError,
)
from tris.domain.values import Sector


def reads(world: World, agreement_id: str) -> dict[str, Callable[[Principal], Any]]:
    """Every read of one agreement, by name."""
    agreements = world.services.agreements
    return {
        "get": lambda p: agreements.get(p, agreement_id),
        "get at a version": lambda p: agreements.get(p, agreement_id, version=1),
        "revisions": lambda p: agreements.revisions(p, agreement_id),
        "revision": lambda p: agreements.revision(p, agreement_id, 1),
        "signing payload": lambda p: agreements.signing_payload(p, agreement_id, 1),
        "diff": lambda p: agreements.diff(p, agreement_id, 2, 1),
        "history": lambda p: agreements.history(p, agreement_id),
    }


def test_another_organisation_can_neither_see_nor_touch_an_agreement(
    world: World, trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(world, trio)
    outsider = world.add("Stadtwerke Spandau", Sector.BUSINESS)
    agreements = world.services.agreements
    ctx = outsider.ctx()

    for name, read in reads(world, agreement_id).items():
        with pytest.raises(AgreementNotFoundError):
            read(outsider.principal)
            pytest.fail(f"{name} showed the agreement to another organisation")
    changes: list[Callable[[], Any]] = [
        lambda: agreements.revise(ctx, agreement_id, draft(outsider, trio.firm), "meins"),
        lambda: agreements.sign(ctx, agreement_id, 2, outsider.key_id, "AAAA"),
        lambda: agreements.decline(ctx, agreement_id, "nein"),
        lambda: agreements.withdraw(ctx, agreement_id, "weg"),
        lambda: agreements.terminate(ctx, agreement_id, "Ende"),
        lambda: agreements.propose_amendment(ctx, agreement_id, draft(outsider, trio.firm), "x"),
        lambda: agreements.reject_amendment(ctx, agreement_id, 3, "nein"),
        lambda: agreements.record_fulfilment(ctx, agreement_id, "C1", "1", TODAY, "geliefert"),
        lambda: agreements.confirm_fulfilment(ctx, agreement_id, "F1"),
        lambda: agreements.dispute_fulfilment(ctx, agreement_id, "F1", "falsch"),
    ]
    version = world.services.store.agreement(agreement_id).version
    for change in changes:
        with pytest.raises(AgreementNotFoundError):
            change()
    assert world.services.store.agreement(agreement_id).version == version


def test_auditors_and_admins_read_every_agreement(world: World, trio: Trio) -> None:
    agreement_id, views = busy_agreement(world, trio)
    auditor_token = world.services.tokens.issue(Role.AUDITOR)
    auditor = Principal(auditor_token.token_id, Role.AUDITOR)

    for viewer in (auditor, world.admin):
        for read in reads(world, agreement_id).values():
            assert read(viewer)
        assert world.services.agreements.get(viewer, agreement_id) == views[13]


def test_researchers_do_not_read_single_agreements(world: World, trio: Trio) -> None:
    agreement_id, _ = busy_agreement(world, trio)
    researcher = Principal(world.services.tokens.issue(Role.RESEARCHER).token_id, Role.RESEARCHER)

    for read in reads(world, agreement_id).values():
        with pytest.raises(AgreementNotFoundError):
            read(researcher)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.RESEARCHER])
def test_readers_cannot_act(role: Role) -> None:
    with pytest.raises(PermissionDeniedError):
        _ = Principal("t-reader", role).actor
    with pytest.raises(PermissionDeniedError):
        _ = Principal("t-reader", role, party_id="p-1").actor


def test_a_partner_token_without_a_party_cannot_act() -> None:
    with pytest.raises(PermissionDeniedError):
        _ = Principal("t-partner", Role.PARTNER).actor


def test_unknown_and_malformed_ids_are_not_found(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    party_id = trio.senate.party_id  # an aggregate, but not an agreement
    for missing in (str(uuid.uuid4()), "not-a-uuid", "", party_id):
        with pytest.raises(AgreementNotFoundError):
            agreements.get(world.admin, missing)
        with pytest.raises(AgreementNotFoundError):
            agreements.decline(trio.senate.ctx(), missing, "nein")


def test_a_party_removed_by_a_revision_still_reads_the_record_but_cannot_act(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.assoc)).body
    agreements.revise(trio.senate.ctx(), created["id"], draft(trio.senate, trio.firm), "ohne")

    assert agreements.history(trio.assoc.principal, created["id"])
    with pytest.raises(NotAPartyError):
        agreements.decline(trio.assoc.ctx(), created["id"], "nein")


def test_an_operator_is_no_party_of_any_agreement(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body

    with pytest.raises(AgreementNotFoundError):
        agreements.decline(world.admin_ctx(), created["id"], "nein")


def test_a_deactivated_party_can_neither_propose_nor_be_named_nor_sign(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    pending = agreements.propose(trio.firm.ctx(), draft(trio.firm, trio.senate)).body
    world.services.parties.deactivate(world.admin_ctx(), trio.senate.party_id, "aufgelöst")

    with pytest.raises(PartyDeactivatedError):
        agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm))
    with pytest.raises(PartyDeactivatedError):
        agreements.propose(trio.firm.ctx(), draft(trio.firm, trio.senate))
    with pytest.raises(PartyDeactivatedError):
        agreements.revise(trio.firm.ctx(), pending["id"], two_commitment_draft(trio), "alle")
    with pytest.raises(PartyDeactivatedError):
        world.sign(trio.senate, pending["id"], 1)
    assert agreements.get(world.admin, pending["id"])["version"] == 1


def test_a_draft_naming_an_unregistered_party_is_invalid(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    other = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    for stranger in (str(uuid.uuid4()), "Stadtwerke", other):
        proposal = draft(trio.senate, trio.firm)
        proposal = type(proposal)(
            title=proposal.title,
            purpose=proposal.purpose,
            parties=(*proposal.parties, stranger),
            terms=proposal.terms,
            commitments=proposal.commitments,
        )
        with pytest.raises(InvalidContentError):
            agreements.propose(trio.senate.ctx(), proposal)


def test_a_party_signs_only_with_its_own_keys(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    payload = agreements.signing_payload(trio.firm.principal, created["id"], 1)
    # The senate's key id, with a signature made by the firm's key.
    signature = base64.b64encode(trio.firm.private_key.sign(payload)).decode()

    with pytest.raises(SigningKeyNotFoundError):
        agreements.sign(
            CommandContext(trio.firm.principal.actor),
            created["id"],
            1,
            trio.senate.key_id,
            signature,
        )
    assert agreements.get(world.admin, created["id"])["version"] == 1
