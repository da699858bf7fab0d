"""The Party aggregate: an organisation of one sector, its contacts and its signing keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from tris.domain.errors import (
    DuplicateSigningKeyError,
    InvalidKeyProofError,
    InvalidPartyDetailsError,
    MissingReasonError,
    PartyDeactivatedError,
    PersonNotFoundError,
    SigningKeyNotFoundError,
    SigningKeyNotOwnedError,
    SigningKeyRevokedError,
)
from tris.domain.signing import (
    key_fingerprint,
    key_proof_payload,
    parse_key_proof,
    parse_public_key,
    signature_is_valid,
)
from tris.domain.values import Actor, Sector, check_text

_WEBSITE = re.compile(r"^https?://[^\s/$.?#]\S+$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Contact:
    """A contact person of a party: personal data, erasable per data subject."""

    person_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    erased: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form; an erased person shows only its id."""
        if self.erased:
            return {
                "id": self.person_id,
                "name": None,
                "email": None,
                "phone": None,
                "erased": True,
            }
        return {
            "id": self.person_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "erased": False,
        }

    @classmethod
    def erased_person(cls, person_id: str) -> Contact:
        """What remains of a contact after its data subject's key was destroyed."""
        return cls(person_id=person_id, name="", erased=True)


_SCHEME = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,29}$")
MAX_IDENTIFIERS = 20


@dataclass(frozen=True)
class Identifier:
    """An identifier of the organisation in a public register: `{"scheme": "DE-CR", "id":
    "HRB 12345 B"}` (the scheme is an org-id.guide list code, as OCDS uses them)."""

    scheme: str
    id: str

    def validate(self) -> None:
        """InvalidPartyDetailsError unless scheme and id are well-formed."""
        if not isinstance(self.scheme, str) or not _SCHEME.match(self.scheme):
            raise InvalidPartyDetailsError(
                "an identifier's scheme is a register's code such as DE-CR or XI-LEI"
            )
        if not isinstance(self.id, str) or not self.id.strip() or len(self.id) > 200:
            raise InvalidPartyDetailsError("an identifier's id has 1 to 200 characters")
        check_text("identifier id", self.id)


@dataclass(frozen=True)
class PartyDetails:
    """The public, non-personal details of a party; `network` when its members are parties
    or networks themselves."""

    name: str
    sector: Sector
    region: str | None = None
    description: str | None = None
    website: str | None = None
    network: bool = False
    identifiers: tuple[Identifier, ...] = ()

    def validate(self) -> None:
        """Raise InvalidPartyDetailsError unless the details are well-formed."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidPartyDetailsError("a party needs a non-empty name")
        if len(self.name) > 300:
            raise InvalidPartyDetailsError("a party name has at most 300 characters")
        check_text("name", self.name)
        for what, text in (("region", self.region), ("website", self.website)):
            if text is not None:
                check_text(what, text)
        if self.description is not None:
            check_text("description", self.description, multiline=True)
        if not isinstance(self.sector, Sector):
            raise InvalidPartyDetailsError("sector must be state, business or civil_society")
        if self.region is not None and len(self.region) > 200:
            raise InvalidPartyDetailsError("a region has at most 200 characters")
        if self.description is not None and len(self.description) > 20_000:
            raise InvalidPartyDetailsError("a description has at most 20000 characters")
        if self.website is not None and (
            len(self.website) > 2000 or not _WEBSITE.match(self.website)
        ):
            raise InvalidPartyDetailsError("website must be an http(s) URL")
        if not isinstance(self.network, bool):
            raise InvalidPartyDetailsError("network is true or false")
        if len(self.identifiers) > MAX_IDENTIFIERS:
            raise InvalidPartyDetailsError(f"a party has at most {MAX_IDENTIFIERS} identifiers")
        for identifier in self.identifiers:
            identifier.validate()
        if len(set(self.identifiers)) != len(self.identifiers):
            raise InvalidPartyDetailsError("an identifier is named twice")


def validate_contact(contact: Contact) -> None:
    """Raise InvalidPartyDetailsError unless a contact person is well-formed."""
    if not contact.name.strip() or len(contact.name) > 300:
        raise InvalidPartyDetailsError("a contact person needs a name of at most 300 characters")
    for what, text in (("name", contact.name), ("email", contact.email), ("phone", contact.phone)):
        if text is not None:
            check_text(f"contact {what}", text)
    if contact.email is not None and (len(contact.email) > 320 or not _EMAIL.match(contact.email)):
        raise InvalidPartyDetailsError(f"contact email {contact.email!r} is not an email address")
    if contact.phone is not None and len(contact.phone) > 50:
        raise InvalidPartyDetailsError("a contact phone number has at most 50 characters")


@dataclass(frozen=True)
class SigningKey:
    """A party's registered Ed25519 public key."""

    key_id: str
    party_id: str
    public_key: bytes
    revoked: bool = False
    # True when the registration carried a valid proof of possession (every key registered
    # since proofs were required); keys registered before that show False.
    proven: bool = False


class Party(Aggregate):
    """An organisation (state, business or civil society) that makes agreements."""

    class Registered(Aggregate.Created):
        """A party was registered by an operator."""

        actor: Actor
        details: PartyDetails
        contacts: tuple[Contact, ...]

    class DetailsUpdated(Aggregate.Event):
        """The party's public details were replaced."""

        actor: Actor
        details: PartyDetails

    class ContactsReplaced(Aggregate.Event):
        """The party's contact persons were replaced."""

        actor: Actor
        contacts: tuple[Contact, ...]

    class SigningKeyRegistered(Aggregate.Event):
        """The party registered an Ed25519 public key, proving it holds the private half.

        `proof` is the key's signature over `key_proof_payload(party_id, proof_public_key)`,
        where `proof_public_key` is the base64 exactly as the registration sent it, so anyone
        can check the proof again. Version 1 events (before proofs) carry neither.
        """

        class_version = 2

        actor: Actor
        key_id: str
        public_key: bytes
        proof: bytes | None
        proof_public_key: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Keys registered before proofs of possession were required have none."""
            state["proof"] = None
            state["proof_public_key"] = None

    class SigningKeyRevoked(Aggregate.Event):
        """The party revoked one of its keys; it signs nothing from now on."""

        actor: Actor
        key_id: str

    class Deactivated(Aggregate.Event):
        """The party was deactivated; it can no longer act or join agreements."""

        actor: Actor
        reason: str

    class PersonalDataErased(Aggregate.Event):
        """An operator erased one contact person's personal data (crypto-shredding)."""

        actor: Actor
        person_id: str

    def __init__(self, actor: Actor, details: PartyDetails, contacts: tuple[Contact, ...]) -> None:
        self.details = details
        self.contacts = contacts
        self.keys: dict[str, SigningKey] = {}
        self.active = True
        self.registered_by = actor
        self.erased_persons: list[str] = []

    @classmethod
    def register(
        cls,
        *,
        party_id: UUID,
        actor: Actor,
        details: PartyDetails,
        contacts: tuple[Contact, ...] = (),
    ) -> Party:
        """Register a new party with its public details and contact persons."""
        details.validate()
        for contact in contacts:
            validate_contact(contact)
        return cls._create(
            cls.Registered, id=party_id, actor=actor, details=details, contacts=contacts
        )

    @property
    def party_id(self) -> str:
        """The party's id as clients see it."""
        return str(self.id)

    @property
    def sector(self) -> Sector:
        """The party's sector."""
        return self.details.sector

    def update_details(self, actor: Actor, details: PartyDetails) -> None:
        """Replace the public details."""
        self._require_active()
        details.validate()
        self._update_details(actor=actor, details=details)

    @event(DetailsUpdated)
    def _update_details(self, actor: Actor, details: PartyDetails) -> None:
        self.details = details

    def replace_contacts(self, actor: Actor, contacts: tuple[Contact, ...]) -> None:
        """Replace the contact persons."""
        self._require_active()
        for contact in contacts:
            validate_contact(contact)
        self._replace_contacts(actor=actor, contacts=contacts)

    @event(ContactsReplaced)
    def _replace_contacts(self, actor: Actor, contacts: tuple[Contact, ...]) -> None:
        self.contacts = contacts

    def register_signing_key(self, actor: Actor, public_key_text: str, proof_text: str) -> str:
        """Register an Ed25519 public key (base64 of the raw 32 bytes) with its proof of
        possession (base64 of its signature over `key_proof_payload`); return its key id."""
        self._require_active()
        public_key = parse_public_key(public_key_text)
        if not proof_text:
            raise InvalidKeyProofError(
                "a signing key is registered with `proof`: its signature over the key proof "
                "payload of this party and key"
            )
        proof = parse_key_proof(proof_text)
        if not signature_is_valid(
            public_key, proof, key_proof_payload(self.party_id, public_key_text)
        ):
            raise InvalidKeyProofError(
                "proof does not verify: sign the RFC 8785 JSON of {party_id, public_key, "
                "purpose: tris-signing-key} with the key being registered"
            )
        key_id = key_fingerprint(public_key)
        if key_id in self.keys:
            raise DuplicateSigningKeyError(f"key {key_id} is registered for this party already")
        self._register_signing_key(
            actor=actor,
            key_id=key_id,
            public_key=public_key,
            proof=proof,
            proof_public_key=public_key_text,
        )
        return key_id

    @event(SigningKeyRegistered)
    def _register_signing_key(
        self,
        actor: Actor,
        key_id: str,
        public_key: bytes,
        proof: bytes | None,
        proof_public_key: str | None,
    ) -> None:
        self.keys[key_id] = SigningKey(key_id, self.party_id, public_key, proven=proof is not None)

    def revoke_signing_key(self, actor: Actor, key_id: str) -> None:
        """Revoke a key; signatures made with it earlier stay checkable."""
        key = self.keys.get(key_id)
        if key is None:
            raise SigningKeyNotFoundError(f"party has no signing key {key_id}")
        if key.revoked:
            raise SigningKeyRevokedError(f"key {key_id} is revoked already")
        self._revoke_signing_key(actor=actor, key_id=key_id)

    @event(SigningKeyRevoked)
    def _revoke_signing_key(self, actor: Actor, key_id: str) -> None:
        key = self.keys[key_id]
        self.keys[key_id] = replace(key, revoked=True)

    def deactivate(self, actor: Actor, reason: str) -> None:
        """Deactivate the party."""
        self._require_active()
        if not reason.strip():
            raise MissingReasonError("deactivating a party needs a reason")
        check_text("reason", reason, multiline=True)
        self._deactivate(actor=actor, reason=reason)

    @event(Deactivated)
    def _deactivate(self, actor: Actor, reason: str) -> None:
        self.active = False

    def record_erasure(self, actor: Actor, person_id: str) -> None:
        """Record that a contact person's data was erased; the key is destroyed elsewhere."""
        if person_id not in {c.person_id for c in self.contacts}:
            raise PersonNotFoundError(f"party {self.party_id} has no contact person {person_id}")
        self._record_erasure(actor=actor, person_id=person_id)

    @event(PersonalDataErased)
    def _record_erasure(self, actor: Actor, person_id: str) -> None:
        self.erased_persons.append(person_id)
        self.contacts = tuple(
            Contact.erased_person(c.person_id) if c.person_id == person_id else c
            for c in self.contacts
        )

    def key_for_signing(self, key_id: str, *, signer: str) -> SigningKey:
        """The unrevoked key `key_id` of this party, for a signature by `signer`."""
        if signer != self.party_id:
            raise SigningKeyNotOwnedError(f"key {key_id} belongs to another party")
        self._require_active()
        key = self.keys.get(key_id)
        if key is None:
            raise SigningKeyNotFoundError(f"party {self.party_id} has no signing key {key_id}")
        if key.revoked:
            raise SigningKeyRevokedError(f"key {key_id} was revoked and signs nothing any more")
        return key

    def _require_active(self) -> None:
        if not self.active:
            raise PartyDeactivatedError(f"party {self.party_id} is deactivated")
