"""Builders shared by tests: parties with real Ed25519 keys, drafts, signing."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tris.application.access import Principal, Role
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.domain.party import PartyDetails
from tris.domain.signing import key_registration
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of a private key's public half."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class Member:
    """A registered party with a partner principal and a registered signing key."""

    party_id: str
    principal: Principal
    private_key: Ed25519PrivateKey
    key_id: str
    sector: Sector
    name: str

    def ctx(self, expected_version: int | None = None) -> CommandContext:
        """A command context acting as this party."""
        return CommandContext(self.principal.actor, expected_version=expected_version)

    def signature(self, payload: bytes) -> str:
        """Base64 Ed25519 signature of a payload."""
        return base64.b64encode(self.private_key.sign(payload)).decode()


@dataclass
class World:
    """A store with an operator and some member parties."""

    services: Services
    admin: Principal
    members: dict[str, Member] = field(default_factory=dict)

    def admin_ctx(self) -> CommandContext:
        """A command context acting as the operator."""
        return CommandContext(self.admin.actor)

    def add(self, name: str, sector: Sector, region: str = "Berlin-Mitte") -> Member:
        """Register a party, give it a partner token and a signing key."""
        outcome = self.services.parties.register(
            self.admin_ctx(), PartyDetails(name=name, sector=sector, region=region)
        )
        party_id = outcome.body["id"]
        issued = self.services.tokens.issue(Role.PARTNER, party_id)
        principal = Principal(issued.token_id, Role.PARTNER, party_id)
        private = Ed25519PrivateKey.generate()
        key = self.services.parties.register_signing_key(
            CommandContext(principal.actor),
            party_id,
            *key_registration(private, party_id),
        )
        member = Member(party_id, principal, private, key.body["key_id"], sector, name)
        self.members[name] = member
        return member

    def sign(self, member: Member, agreement_id: str, revision: int) -> dict[str, Any]:
        """Have a member sign a revision with its key; return the agreement view."""
        payload = self.services.agreements.signing_payload(member.principal, agreement_id, revision)
        return self.services.agreements.sign(
            member.ctx(), agreement_id, revision, member.key_id, member.signature(payload)
        ).body


def make_world(services: Services) -> World:
    """A world with an admin principal and no parties yet."""
    issued = services.tokens.issue(Role.ADMIN)
    return World(services, Principal(issued.token_id, Role.ADMIN))


def draft(
    *members: Member,
    title: str = "Kiezküche Moabit",
    quantity: str = "10",
    due_on: date | None = None,
) -> ContentDraft:
    """A draft in which the first member owes the second `quantity` hours."""
    return ContentDraft(
        title=title,
        purpose="Gemeinsam ein Mittagessen für Nachbarn organisieren",
        parties=tuple(m.party_id for m in members),
        terms=Terms(text="Nach dem Marktplatz-Prinzip, ohne Geld"),
        commitments=(
            CommitmentDraft(
                debtor=members[0].party_id,
                beneficiary=members[1].party_id,
                kind=CommitmentKind.TIME,
                quantity=quantity,
                unit="hours",
                description="Kochen mit Azubis",
                due_on=due_on,
            ),
        ),
    )
