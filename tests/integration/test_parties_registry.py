"""Registering parties, their contact persons and signing keys, and who sees what."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.scenario import World, draft, raw_public_key
from tests.support.trio import ServicesFactory, Trio
from tris.application.access import Principal, Role
from tris.application.parties import new_contact
from tris.application.store import CommandContext, IdempotencyRequest
from tris.domain.errors import (
    DuplicateSigningKeyError,
    InvalidKeyProofError,
    InvalidPartyDetailsError,
    InvalidSigningKeyError,
    PartyDeactivatedError,
    PartyNotFoundError,
    PermissionDeniedError,
    SigningKeyNotFoundError,
    SigningKeyRevokedError,
    SigningKeyTakenError,
)
from tris.domain.party import PartyDetails
from tris.domain.signing import key_registration
from tris.domain.values import Sector


def fresh_key(party_id: str) -> tuple[str, str]:
    """A new Ed25519 public key for the party and its proof of possession (base64)."""
    return key_registration(Ed25519PrivateKey.generate(), party_id)


def verein() -> PartyDetails:
    """The details of a civil-society party."""
    return PartyDetails(
        name="Nachbarschaftsverein Moabit e.V.",
        sector=Sector.CIVIL_SOCIETY,
        region="Berlin-Moabit",
        description="Nachbarschaftshilfe und Mittagstisch",
        website="https://verein.example",
    )


def test_a_registered_party_shows_its_details_and_its_contacts_with_ids(world: World) -> None:
    anna = new_contact("Anna Schulz", "anna@verein.example", "+49 30 1234")
    ben = new_contact("Ben Öztürk", "ben@verein.example")

    body = world.services.parties.register(world.admin_ctx(), verein(), (anna, ben)).body

    assert uuid.UUID(body["id"])
    assert body["name"] == "Nachbarschaftsverein Moabit e.V."
    assert body["sector"] == "civil_society"
    assert body["region"] == "Berlin-Moabit"
    assert body["website"] == "https://verein.example"
    assert body["active"] is True
    assert body["signing_keys"] == []
    assert [(c["id"], c["name"], c["email"], c["phone"]) for c in body["contacts"]] == [
        (anna.person_id, "Anna Schulz", "anna@verein.example", "+49 30 1234"),
        (ben.person_id, "Ben Öztürk", "ben@verein.example", None),
    ]
    assert world.services.parties.get(world.admin, body["id"]) == body


def test_parties_are_listed_in_registration_order(world: World) -> None:
    names = ["Bezirksamt Mitte", "Kiezbäckerei GmbH", "Nachbarschaftsverein Moabit e.V."]
    ids = [world.add(name, Sector.STATE).party_id for name in names]

    listed = world.services.parties.list(world.admin)

    assert [p["id"] for p in listed] == ids
    assert [p["name"] for p in listed] == names


def test_contacts_are_shown_only_to_admins_auditors_and_the_party_itself(
    world: World, trio: Trio
) -> None:
    parties = world.services.parties
    anna = new_contact("Anna Schulz", "anna@verein.example")
    party_id = parties.register(world.admin_ctx(), verein(), (anna,)).body["id"]
    issued = world.services.tokens.issue(Role.PARTNER, party_id)
    itself = Principal(issued.token_id, Role.PARTNER, party_id)
    auditor = Principal(world.services.tokens.issue(Role.AUDITOR).token_id, Role.AUDITOR)
    researcher = Principal(world.services.tokens.issue(Role.RESEARCHER).token_id, Role.RESEARCHER)

    for viewer in (world.admin, auditor, itself):
        view = parties.get(viewer, party_id)
        assert [c["name"] for c in view["contacts"]] == ["Anna Schulz"]
    for viewer in (researcher, trio.firm.principal):
        view = parties.get(viewer, party_id)
        assert "contacts" not in view
        assert view["name"] == "Nachbarschaftsverein Moabit e.V."
        assert "Anna" not in repr(view)
        listed = {p["id"]: p for p in parties.list(viewer)}
        assert "contacts" not in listed[party_id]
    own = {p["id"]: p for p in parties.list(itself)}
    assert "contacts" in own[party_id] and "contacts" not in own[trio.firm.party_id]


def test_a_retried_registration_answers_the_same_and_keeps_no_personal_data(
    world: World,
) -> None:
    anna = new_contact("Anna Schulz", "anna@verein.example", "+49 30 1234")
    ctx = CommandContext(world.admin.actor, idempotency=IdempotencyRequest("reg-1", "fp", 201))
    parties = world.services.parties

    first = parties.register(ctx, verein(), (anna,))
    again = parties.register(ctx, verein(), (anna,))

    assert again.replayed and again.body == first.body
    assert [p["id"] for p in parties.list(world.admin)] == [first.body["id"]]
    with world.services.store.database.read() as cur:
        cur.execute("SELECT body FROM tris_idempotency")
        stored = " ".join(str(row[0]) for row in cur.fetchall())
    assert first.body["id"] in stored
    for personal in ("Anna", "anna@verein.example", "1234"):
        assert personal not in stored


def test_contacts_survive_a_restart(open_services: ServicesFactory, world: World) -> None:
    anna = new_contact("Anna Schulz", "anna@verein.example")
    party_id = world.services.parties.register(world.admin_ctx(), verein(), (anna,)).body["id"]
    world.services.close()

    restarted = open_services()
    view = restarted.parties.get(world.admin, party_id)

    assert view["contacts"] == [
        {
            "id": anna.person_id,
            "name": "Anna Schulz",
            "email": "anna@verein.example",
            "phone": None,
            "erased": False,
        }
    ]


def test_only_operators_register_and_deactivate_parties(world: World, trio: Trio) -> None:
    parties = world.services.parties

    with pytest.raises(PermissionDeniedError):
        parties.register(trio.firm.ctx(), verein())
    with pytest.raises(PermissionDeniedError):
        parties.deactivate(trio.firm.ctx(), trio.firm.party_id, "aufhören")
    with pytest.raises(PermissionDeniedError):
        parties.deactivate(trio.firm.ctx(), trio.senate.party_id, "weg")
    assert [p["id"] for p in parties.list(world.admin)] == [
        trio.senate.party_id,
        trio.firm.party_id,
        trio.assoc.party_id,
    ]

    view = parties.deactivate(world.admin_ctx(), trio.firm.party_id, "aufgelöst").body
    assert view["active"] is False
    assert parties.get(trio.senate.principal, trio.firm.party_id)["active"] is False


def test_invalid_details_are_refused(world: World) -> None:
    parties = world.services.parties
    for details in (
        PartyDetails(name=" ", sector=Sector.STATE),
        PartyDetails(name="Amt", sector=Sector.STATE, website="ftp://amt.example"),
    ):
        with pytest.raises(InvalidPartyDetailsError):
            parties.register(world.admin_ctx(), details)
    with pytest.raises(InvalidPartyDetailsError):
        parties.register(world.admin_ctx(), verein(), (new_contact("Anna", "keine-adresse"),))
    assert parties.list(world.admin) == []


def test_a_party_manages_only_its_own_keys_and_details(world: World, trio: Trio) -> None:
    parties = world.services.parties
    senate = trio.senate.party_id

    with pytest.raises(PartyNotFoundError):
        parties.register_signing_key(trio.firm.ctx(), senate, *fresh_key(senate))
    with pytest.raises(PartyNotFoundError):
        parties.revoke_signing_key(trio.firm.ctx(), senate, trio.senate.key_id)
    with pytest.raises(PartyNotFoundError):
        parties.update_details(
            trio.firm.ctx(), senate, PartyDetails(name="Übernommen", sector=Sector.STATE)
        )
    with pytest.raises(PermissionDeniedError):
        parties.register_signing_key(world.admin_ctx(), senate, *fresh_key(senate))
    with pytest.raises(PermissionDeniedError):
        parties.revoke_signing_key(world.admin_ctx(), senate, trio.senate.key_id)
    view = parties.get(world.admin, senate)
    assert view["name"] == "Bezirksamt Mitte"
    assert [k["revoked"] for k in view["signing_keys"]] == [False]
    # The party itself and an operator may change the details.
    renamed = PartyDetails(name="Bezirksamt Berlin-Mitte", sector=Sector.STATE)
    assert parties.update_details(trio.senate.ctx(), senate, renamed).body["name"] == (
        "Bezirksamt Berlin-Mitte"
    )
    with pytest.raises(PartyNotFoundError):
        parties.update_details(world.admin_ctx(), str(uuid.uuid4()), renamed)


def test_signing_keys_are_registered_and_revoked(world: World, trio: Trio) -> None:
    parties = world.services.parties
    member = trio.assoc
    private = Ed25519PrivateKey.generate()
    public, proof = key_registration(private, member.party_id)

    added = parties.register_signing_key(member.ctx(), member.party_id, public, proof)
    assert added.status == 201
    assert added.body == {
        "key_id": added.body["key_id"],
        "party_id": member.party_id,
        "revoked": False,
    }
    keys = {k["key_id"]: k for k in parties.get(member.principal, member.party_id)["signing_keys"]}
    assert keys[added.body["key_id"]] == {
        "key_id": added.body["key_id"],
        "public_key": public,
        "revoked": False,
        "proven": True,
    }

    revoked = parties.revoke_signing_key(member.ctx(), member.party_id, member.key_id)
    assert revoked.body == {"key_id": member.key_id, "party_id": member.party_id, "revoked": True}
    keys = {k["key_id"]: k for k in parties.get(world.admin, member.party_id)["signing_keys"]}
    assert keys[member.key_id]["revoked"] is True
    assert keys[added.body["key_id"]]["revoked"] is False

    with pytest.raises(SigningKeyRevokedError):
        parties.revoke_signing_key(member.ctx(), member.party_id, member.key_id)
    with pytest.raises(SigningKeyNotFoundError):
        parties.revoke_signing_key(member.ctx(), member.party_id, "0123456789abcdef")
    with pytest.raises(DuplicateSigningKeyError):
        parties.register_signing_key(member.ctx(), member.party_id, public, proof)
    for bad in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidSigningKeyError):
            parties.register_signing_key(member.ctx(), member.party_id, bad, proof)


def test_a_key_without_a_valid_proof_is_refused_and_nothing_is_recorded(
    world: World, trio: Trio
) -> None:
    parties = world.services.parties
    member = trio.assoc
    head = world.services.store.log.head()
    public, _ = fresh_key(member.party_id)
    _, other_proof = fresh_key(member.party_id)
    _, for_another_party = key_registration(Ed25519PrivateKey.generate(), trio.firm.party_id)

    for bad in ("", "not base64!", other_proof, for_another_party):
        with pytest.raises(InvalidKeyProofError):
            parties.register_signing_key(member.ctx(), member.party_id, public, bad)
    assert world.services.store.log.head() == head


def test_a_key_another_party_registered_is_refused(world: World, trio: Trio) -> None:
    """P2 cannot take P4's key, even holding its private half: a key speaks for one party."""
    parties = world.services.parties
    shared = Ed25519PrivateKey.generate()
    parties.register_signing_key(
        trio.firm.ctx(), trio.firm.party_id, *key_registration(shared, trio.firm.party_id)
    )

    with pytest.raises(SigningKeyTakenError):
        parties.register_signing_key(
            trio.assoc.ctx(), trio.assoc.party_id, *key_registration(shared, trio.assoc.party_id)
        )
    keys = parties.get(world.admin, trio.assoc.party_id)["signing_keys"]
    assert [k["key_id"] for k in keys] == [trio.assoc.key_id]
    # A copied public key with the taker's own signature is no proof at all.
    stolen = base64.b64encode(raw_public_key(trio.senate.private_key)).decode()
    _, own = fresh_key(trio.assoc.party_id)
    with pytest.raises(InvalidKeyProofError):
        parties.register_signing_key(trio.assoc.ctx(), trio.assoc.party_id, stolen, own)


def test_a_revoked_key_signs_nothing(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    world.services.parties.revoke_signing_key(trio.firm.ctx(), trio.firm.party_id, trio.firm.key_id)

    with pytest.raises(SigningKeyRevokedError):
        world.sign(trio.firm, created["id"], 1)


def test_a_deactivated_party_cannot_register_keys(world: World, trio: Trio) -> None:
    parties = world.services.parties
    parties.deactivate(world.admin_ctx(), trio.assoc.party_id, "aufgelöst")

    with pytest.raises(PartyDeactivatedError):
        parties.register_signing_key(
            trio.assoc.ctx(), trio.assoc.party_id, *fresh_key(trio.assoc.party_id)
        )


def test_an_unknown_party_is_not_found(world: World, trio: Trio) -> None:
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    for missing in (str(uuid.uuid4()), "nobody", agreement_id):
        with pytest.raises(PartyNotFoundError):
            world.services.parties.get(world.admin, missing)
