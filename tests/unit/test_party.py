"""The Party aggregate: details, contacts, signing keys, deactivation."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tris.domain.errors import (
    DuplicateSigningKeyError,
    InvalidKeyProofError,
    InvalidPartyDetailsError,
    InvalidSigningKeyError,
    MissingReasonError,
    PartyDeactivatedError,
    PersonNotFoundError,
    SigningKeyNotFoundError,
    SigningKeyNotOwnedError,
    SigningKeyRevokedError,
)
from tris.domain.party import Contact, Party, PartyDetails
from tris.domain.signing import (
    key_fingerprint,
    key_proof_payload,
    key_registration,
    parse_public_key,
    signature_is_valid,
)
from tris.domain.values import OPERATOR, Actor, Sector

OPERATOR_ACTOR = Actor(OPERATOR, "token-admin")


def register(details: PartyDetails | None = None, contacts: tuple[Contact, ...] = ()) -> Party:
    return Party.register(
        party_id=uuid.uuid4(),
        actor=OPERATOR_ACTOR,
        details=details or PartyDetails(name="Kiezbäckerei GmbH", sector=Sector.BUSINESS),
        contacts=contacts,
    )


def new_public_key() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def register_new_key(org: Any) -> tuple[str, bytes]:
    """Register a fresh key for the org's party, with its proof; (key id, raw public key)."""
    private = Ed25519PrivateKey.generate()
    key_id = org.party.register_signing_key(org.actor, *key_registration(private, org.id))
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key_id, raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# -- registration ---------------------------------------------------------------------------------


def test_registering_a_party_keeps_its_details_contacts_and_operator() -> None:
    contact = Contact("p-1", "Ada Lovelace", "ada@example.org", "+49 30 123")
    details = PartyDetails(
        name="Bezirksamt Mitte",
        sector=Sector.STATE,
        region="Berlin-Mitte",
        description="Bezirksverwaltung",
        website="https://berlin.de/ba-mitte",
    )
    party = register(details, (contact,))

    assert party.details == details
    assert party.sector is Sector.STATE
    assert party.contacts == (contact,)
    assert party.active
    assert party.keys == {}
    [registered] = party.collect_events()
    assert isinstance(registered, Party.Registered)
    assert registered.actor == OPERATOR_ACTOR


@pytest.mark.parametrize("name", ["", "   ", "x" * 301])
def test_a_party_needs_a_short_non_empty_name(name: str) -> None:
    with pytest.raises(InvalidPartyDetailsError):
        register(PartyDetails(name=name, sector=Sector.BUSINESS))


def test_a_party_needs_one_of_the_three_sectors() -> None:
    with pytest.raises(InvalidPartyDetailsError):
        register(PartyDetails(name="Irgendwer", sector="business"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "website",
    ["example.org", "ftp://example.org", "https://", "javascript:alert(1)", "https://a b.de"],
)
def test_a_website_must_be_an_http_url(website: str) -> None:
    with pytest.raises(InvalidPartyDetailsError, match="website"):
        register(PartyDetails(name="Kiezbäckerei", sector=Sector.BUSINESS, website=website))


@pytest.mark.parametrize("website", ["https://kiezbaeckerei.de", "http://example.org/about"])
def test_an_http_or_https_website_is_accepted(website: str) -> None:
    party = register(PartyDetails(name="Kiezbäckerei", sector=Sector.BUSINESS, website=website))
    assert party.details.website == website


@pytest.mark.parametrize("email", ["nobody", "a@b", "a b@c.de", "a@@c.de", ""])
def test_a_contact_email_must_be_an_email_address(email: str) -> None:
    with pytest.raises(InvalidPartyDetailsError, match="email"):
        register(contacts=(Contact("p-1", "Ada Lovelace", email),))


def test_a_contact_needs_a_name() -> None:
    with pytest.raises(InvalidPartyDetailsError):
        register(contacts=(Contact("p-1", "  ", "ada@example.org"),))


def test_a_contact_may_omit_email_and_phone() -> None:
    party = register(contacts=(Contact("p-1", "Ada Lovelace"),))
    plain = party.contacts[0].to_dict()
    assert (plain["id"], plain["name"], plain["email"], plain["phone"]) == (
        "p-1",
        "Ada Lovelace",
        None,
        None,
    )


# -- details and contacts ------------------------------------------------------------------------


def test_updating_details_replaces_them() -> None:
    party = register()
    party.collect_events()
    new = PartyDetails(name="Kiezbäckerei eG", sector=Sector.CIVIL_SOCIETY, region="Wedding")

    party.update_details(OPERATOR_ACTOR, new)

    assert party.details == new
    assert party.sector is Sector.CIVIL_SOCIETY
    [updated] = party.collect_events()
    assert isinstance(updated, Party.DetailsUpdated)


def test_updating_details_validates_them_and_records_nothing_when_refused() -> None:
    party = register()
    party.collect_events()
    old = party.details

    with pytest.raises(InvalidPartyDetailsError):
        party.update_details(OPERATOR_ACTOR, PartyDetails(name="", sector=Sector.BUSINESS))

    assert party.details == old
    assert party.collect_events() == []


def test_replacing_contacts_replaces_all_of_them() -> None:
    party = register(contacts=(Contact("p-1", "Ada Lovelace"),))
    grace = Contact("p-2", "Grace Hopper", "grace@example.org")

    party.replace_contacts(OPERATOR_ACTOR, (grace,))

    assert party.contacts == (grace,)
    assert isinstance(party.collect_events()[-1], Party.ContactsReplaced)


def test_replacing_contacts_with_a_bad_email_is_refused_and_keeps_the_old_ones() -> None:
    ada = Contact("p-1", "Ada Lovelace")
    party = register(contacts=(ada,))

    with pytest.raises(InvalidPartyDetailsError):
        party.replace_contacts(OPERATOR_ACTOR, (Contact("p-2", "Grace", "not-an-email"),))

    assert party.contacts == (ada,)


def test_erasing_a_contact_person_keeps_only_its_id() -> None:
    ada = Contact("p-1", "Ada Lovelace", "ada@example.org", "+49 30 123")
    grace = Contact("p-2", "Grace Hopper")
    party = register(contacts=(ada, grace))

    party.record_erasure(OPERATOR_ACTOR, "p-1")

    erased, kept = party.contacts
    assert erased.person_id == "p-1"
    assert erased.erased
    assert "Ada" not in repr(erased.to_dict())
    assert "ada@example.org" not in repr(erased.to_dict())
    assert kept == grace
    assert party.erased_persons == ["p-1"]
    assert isinstance(party.collect_events()[-1], Party.PersonalDataErased)


def test_erasing_an_unknown_person_is_refused() -> None:
    party = register(contacts=(Contact("p-1", "Ada Lovelace"),))
    with pytest.raises(PersonNotFoundError):
        party.record_erasure(OPERATOR_ACTOR, "p-9")


# -- signing keys --------------------------------------------------------------------------------


def test_parsing_a_public_key_accepts_standard_and_url_safe_base64() -> None:
    raw = new_public_key()
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    assert parse_public_key(b64(raw)) == raw
    assert parse_public_key(url_safe) == raw


@pytest.mark.parametrize("value", ["not base64!", "%%%%", "YWJj$"])
def test_a_public_key_that_is_not_base64_is_refused(value: str) -> None:
    with pytest.raises(InvalidSigningKeyError, match="base64"):
        parse_public_key(value)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_a_public_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(InvalidSigningKeyError, match="32"):
        parse_public_key(b64(b"\x01" * length))


def test_a_public_key_must_be_a_string() -> None:
    with pytest.raises(InvalidSigningKeyError):
        parse_public_key(b"\x01" * 32)  # type: ignore[arg-type]


def test_registering_a_key_gives_its_fingerprint_as_key_id(business) -> None:
    key_id, raw = register_new_key(business)

    assert key_id == key_fingerprint(raw)
    assert business.party.keys[key_id].public_key == raw
    assert business.party.keys[key_id].party_id == business.id
    assert not business.party.keys[key_id].revoked
    assert len(business.party.keys) == 2


def test_registering_the_same_key_twice_is_refused(business) -> None:
    with pytest.raises(DuplicateSigningKeyError):
        business.party.register_signing_key(
            business.actor, *key_registration(business.private_key, business.id)
        )


def test_a_registered_key_carries_its_proof_and_shows_proven(business) -> None:
    key = business.party.keys[business.key_id]
    event = next(
        e for e in business.party.collect_events() if isinstance(e, Party.SigningKeyRegistered)
    )

    assert key.proven
    assert event.proof is not None
    public = event.proof_public_key
    assert public is not None
    assert signature_is_valid(key.public_key, event.proof, key_proof_payload(business.id, public))


def test_the_proof_payload_is_the_canonical_json_the_contract_names() -> None:
    payload = key_proof_payload("p-1", "AAAA")

    assert payload == b'{"party_id":"p-1","public_key":"AAAA","purpose":"tris-signing-key"}'


def test_a_key_without_a_proof_is_refused(business) -> None:
    public, _ = key_registration(Ed25519PrivateKey.generate(), business.id)

    with pytest.raises(InvalidKeyProofError):
        business.party.register_signing_key(business.actor, public, "")


def test_another_keys_signature_is_no_proof(business, state) -> None:
    """Someone else's public key cannot be registered: its holder's proof is for its party."""
    theirs, their_proof = key_registration(state.private_key, state.id)
    _, my_proof = key_registration(Ed25519PrivateKey.generate(), business.id)

    for proof in (their_proof, my_proof):
        with pytest.raises(InvalidKeyProofError, match="does not verify"):
            business.party.register_signing_key(business.actor, theirs, proof)
    assert len(business.party.keys) == 1


def test_a_proof_over_another_spelling_of_the_key_does_not_verify(business) -> None:
    private = Ed25519PrivateKey.generate()
    public, proof = key_registration(private, business.id)
    url_safe = public.replace("+", "-").replace("/", "_").rstrip("=")
    if url_safe == public:
        url_safe = public.rstrip("=")

    with pytest.raises(InvalidKeyProofError):
        business.party.register_signing_key(business.actor, url_safe, proof)


@pytest.mark.parametrize("proof", ["not base64!", "AAAA", b64(bytes(65))])
def test_a_malformed_proof_is_refused(business, proof: str) -> None:
    public, _ = key_registration(Ed25519PrivateKey.generate(), business.id)

    with pytest.raises(InvalidKeyProofError):
        business.party.register_signing_key(business.actor, public, proof)


def test_a_key_registered_before_proofs_upcasts_to_unproven() -> None:
    state: dict[str, object] = {"key_id": "k", "public_key": b"x"}
    Party.SigningKeyRegistered.upcast_v1_v2(state)

    assert state["proof"] is None
    assert state["proof_public_key"] is None


def test_revoking_a_key_marks_it_revoked(business) -> None:
    business.party.revoke_signing_key(business.actor, business.key_id)

    assert business.party.keys[business.key_id].revoked
    assert isinstance(business.party.collect_events()[-1], Party.SigningKeyRevoked)


def test_revoking_an_unknown_key_is_refused(business) -> None:
    with pytest.raises(SigningKeyNotFoundError):
        business.party.revoke_signing_key(business.actor, "0123456789abcdef")


def test_revoking_a_key_twice_is_refused(business) -> None:
    business.party.revoke_signing_key(business.actor, business.key_id)

    with pytest.raises(SigningKeyRevokedError):
        business.party.revoke_signing_key(business.actor, business.key_id)


def test_a_revoked_key_is_not_given_out_for_signing(business) -> None:
    business.party.revoke_signing_key(business.actor, business.key_id)

    with pytest.raises(SigningKeyRevokedError):
        business.party.key_for_signing(business.key_id, signer=business.id)


def test_a_key_is_not_given_out_to_another_party(business, civil) -> None:
    with pytest.raises(SigningKeyNotOwnedError):
        business.party.key_for_signing(business.key_id, signer=civil.id)


def test_an_unknown_key_is_not_given_out(business) -> None:
    with pytest.raises(SigningKeyNotFoundError):
        business.party.key_for_signing("0123456789abcdef", signer=business.id)


def test_a_party_signs_with_any_of_its_unrevoked_keys(business) -> None:
    second, raw = register_new_key(business)
    business.party.revoke_signing_key(business.actor, business.key_id)

    assert business.party.key_for_signing(second, signer=business.id).public_key == raw


# -- deactivation --------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_deactivating_a_party_needs_a_reason(business, reason: str) -> None:
    with pytest.raises(MissingReasonError):
        business.party.deactivate(OPERATOR_ACTOR, reason)
    assert business.party.active


def test_a_deactivated_party_cannot_register_keys(business) -> None:
    business.party.deactivate(OPERATOR_ACTOR, "Insolvenz")

    assert not business.party.active
    with pytest.raises(PartyDeactivatedError):
        register_new_key(business)


def test_a_deactivated_party_cannot_sign_change_details_or_contacts(business) -> None:
    business.party.deactivate(OPERATOR_ACTOR, "Insolvenz")

    with pytest.raises(PartyDeactivatedError):
        business.party.key_for_signing(business.key_id, signer=business.id)
    with pytest.raises(PartyDeactivatedError):
        business.party.update_details(
            OPERATOR_ACTOR, PartyDetails(name="Neu", sector=Sector.BUSINESS)
        )
    with pytest.raises(PartyDeactivatedError):
        business.party.replace_contacts(OPERATOR_ACTOR, ())
    with pytest.raises(PartyDeactivatedError):
        business.party.deactivate(OPERATOR_ACTOR, "noch einmal")
