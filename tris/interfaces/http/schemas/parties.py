"""Schemas of parties, their contact persons and signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictStr

from tris.application.parties import new_contact
from tris.domain.party import Contact, Identifier, PartyDetails
from tris.domain.values import Sector
from tris.interfaces.http.schemas.common import Input


class ContactCreate(Input):
    """A contact person of a party (personal data)."""

    name: str
    email: str | None = None
    phone: str | None = None


class IdentifierCreate(Input):
    """An identifier of the organisation in a public register."""

    scheme: StrictStr = Field(examples=["DE-CR"], description="The register's org-id.guide code")
    id: StrictStr = Field(examples=["HRB 12345 B"])


class IdentifierView(BaseModel):
    """An identifier of the organisation in a public register."""

    scheme: str
    id: str


class PartyCreate(Input):
    """A party to register: an organisation of one sector."""

    name: str
    sector: Sector
    region: str | None = Field(default=None, examples=["Berlin-Mitte"])
    description: str | None = None
    website: str | None = Field(default=None, examples=["https://example.org"])
    network: StrictBool = Field(
        default=False, description="True when its members are parties or networks"
    )
    identifiers: list[IdentifierCreate] = Field(
        default_factory=list,
        max_length=20,
        description="Identifiers in public registers, e.g. the commercial register (DE-CR)",
    )
    contacts: list[ContactCreate] = Field(default_factory=list, max_length=100)

    def details(self) -> PartyDetails:
        """The public details as the domain takes them."""
        return PartyDetails(
            name=self.name,
            sector=self.sector,
            region=self.region,
            description=self.description,
            website=self.website,
            network=self.network,
            identifiers=tuple(Identifier(i.scheme, i.id) for i in self.identifiers),
        )

    def contact_values(self) -> tuple[Contact, ...]:
        """The contact persons, each with a fresh person id."""
        return tuple(new_contact(c.name, c.email, c.phone) for c in self.contacts)


class ContactView(BaseModel):
    """A contact person; `id` is the person id of personal-data requests."""

    id: str
    name: str | None = Field(description="Null once the person's data was erased")
    email: str | None
    phone: str | None
    erased: bool = Field(
        default=False, description="True when the person's personal data was erased"
    )


class SigningKeyView(BaseModel):
    """A registered Ed25519 public key (base64 of the raw 32 bytes)."""

    key_id: str
    public_key: str
    revoked: bool
    proven: bool = Field(
        description="Registered with a proof of possession (false for keys registered "
        "before proofs were required)"
    )


class PartyView(BaseModel):
    """A party; `contacts` only for admins, auditors and the party itself."""

    id: str
    name: str
    sector: Sector
    region: str | None
    description: str | None
    website: str | None
    network: bool = False
    identifiers: list[IdentifierView] = []
    active: bool
    signing_keys: list[SigningKeyView]
    created_at: datetime
    version: int
    contacts: list[ContactView] | None = Field(
        default=None, description="Absent unless the token may see personal data"
    )


class PartyList(BaseModel):
    """A page of parties in registration order."""

    items: list[PartyView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class SigningKeyCreate(Input):
    """An Ed25519 public key to register for the party."""

    public_key: Annotated[str, Field(max_length=200)] = Field(
        description="Base64 (standard or URL-safe) of the raw 32-byte Ed25519 public key"
    )
    proof: Annotated[str, Field(max_length=200)] = Field(
        description="Base64 of the key's Ed25519 signature over the RFC 8785 JSON of "
        '{"party_id": <this party>, "public_key": <public_key exactly as sent>, '
        '"purpose": "tris-signing-key"}: proof that the registrant holds the private key'
    )


class SigningKeyRegistration(BaseModel):
    """The id of a registered key (or its revocation)."""

    key_id: str
    party_id: str
    revoked: bool = False
