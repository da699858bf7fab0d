"""Builds the benchmark's data fast: parties over the use cases, agreements in bulk saves.

Agreements are made by the domain model (every rule checked, real Ed25519 signatures)
and written through the application's `save` with many aggregates per call, so each
event still gets its hash-chain row and its position from the sequencer; the read
models are then built by `rebuild()`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.domain import Aggregate

from tris.application.access import Principal, Role
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.domain.agreement import Agreement
from tris.domain.party import PartyDetails, SigningKey
from tris.domain.signing import key_registration
from tris.domain.values import Actor, CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms

SECTORS = (Sector.STATE, Sector.BUSINESS, Sector.CIVIL_SOCIETY)
SAVE_BATCH = 250
DELIVERED_ON = date(2026, 5, 1)


@dataclass(frozen=True)
class Member:
    """A registered party with its partner token (secret and id) and a signing key."""

    party_id: str
    sector: Sector
    token: str
    token_id: str
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def actor(self) -> Actor:
        """The actor of this party's events."""
        return Actor(self.party_id, self.token_id)

    def to_json(self) -> dict[str, Any]:
        """What the load process needs to act as this party over HTTP."""
        raw = self.private_key.private_bytes_raw()
        return {
            "party_id": self.party_id,
            "sector": self.sector.value,
            "token": self.token,
            "key_id": self.key_id,
            "private_key": base64.b64encode(raw).decode(),
        }


def register_members(services: Services, count: int, prefix: str = "Partei") -> list[Member]:
    """Register `count` parties (sectors in turn) with a partner token and a signing key each."""
    admin = services.tokens.issue(Role.ADMIN, label="benchmark")
    admin_ctx = CommandContext(Principal(admin.token_id, Role.ADMIN).actor)
    members = []
    for index in range(count):
        sector = SECTORS[index % len(SECTORS)]
        details = PartyDetails(
            name=f"{prefix} {index}", sector=sector, region=f"Berlin-{index % 12}"
        )
        party_id = services.parties.register(admin_ctx, details).body["id"]
        issued = services.tokens.issue(Role.PARTNER, party_id)
        private = Ed25519PrivateKey.generate()
        ctx = CommandContext(Principal(issued.token_id, Role.PARTNER, party_id).actor)
        key_id = services.parties.register_signing_key(
            ctx, party_id, *key_registration(private, party_id)
        ).body["key_id"]
        members.append(Member(party_id, sector, issued.token, issued.token_id, private, key_id))
    return members


def trios(members: Sequence[Member]) -> Iterator[tuple[Member, Member, Member]]:
    """Endless trisectoral trios: one party of each sector, varied combinations."""
    by_sector = [[m for m in members if m.sector is s] for s in SECTORS]
    size = min(len(group) for group in by_sector)
    step = 0
    while True:
        for i in range(size):
            yield (
                by_sector[0][i],
                by_sector[1][(i + step) % size],
                by_sector[2][(i + 2 * step + 1) % size],
            )
        step += 1


def draft(trio: tuple[Member, ...], number: int, quantity: str = "1") -> ContentDraft:
    """Agreement content: the business party owes the association `quantity` hours."""
    return ContentDraft(
        title=f"Kooperation {number}",
        purpose="Azubis kochen mit Nachbarn im Kiez",
        parties=tuple(m.party_id for m in trio),
        terms=Terms(text="Nach dem Marktplatz-Prinzip, ohne Geld"),
        commitments=(
            CommitmentDraft(
                debtor=trio[1].party_id,
                beneficiary=trio[2].party_id,
                kind=CommitmentKind.TIME,
                quantity=quantity,
                unit="hours",
                description="Kochen mit Azubis",
            ),
        ),
    )


class Builder:
    """Writes agreements through the application in bulk saves."""

    def __init__(self, services: Services, members: Sequence[Member]) -> None:
        self.services = services
        self.app = services.store.log.app
        self.sectors = {m.party_id: m.sector for m in members}
        self.keys: dict[str, SigningKey] = {
            m.party_id: services.store.party(m.party_id).key_for_signing(
                m.key_id, signer=m.party_id
            )
            for m in members
        }
        self.events = 0

    def propose(self, trio: tuple[Member, ...], number: int, quantity: str = "1") -> Agreement:
        """A new proposal by the trio's first party."""
        return Agreement.propose(
            agreement_id=uuid.uuid4(),
            actor=trio[0].actor,
            draft=draft(trio, number, quantity),
            party_sectors=self.sectors,
        )

    def conclude(self, agreement: Agreement, trio: tuple[Member, ...]) -> None:
        """Every party signs the latest revision (real signatures): the agreement is in force."""
        revision = agreement.latest.number
        payload = agreement.payload(revision)
        for member in trio:
            signature = member.private_key.sign(payload)
            agreement.sign(member.actor, revision, self.keys[member.party_id], signature)

    def deliver(self, agreement: Agreement, trio: tuple[Member, ...], quantity: str = "1") -> None:
        """The debtor records a delivery and the beneficiary confirms it."""
        commitment_id = agreement.in_force.content.commitments[0].id  # type: ignore[union-attr]
        fid = agreement.record_fulfilment(
            trio[1].actor, commitment_id, quantity, DELIVERED_ON, "geliefert"
        )
        agreement.confirm_fulfilment(trio[2].actor, fid)

    def save(self, aggregates: Sequence[Aggregate]) -> None:
        """Write the pending events of many aggregates in one transaction."""
        if aggregates:
            self.events += sum(len(a.pending_events) for a in aggregates)
            self.app.save(*aggregates)

    def agreements(
        self,
        members: Sequence[Member],
        count: int,
        shape: Callable[[int], int],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """`count` agreements; `shape(i)` deliveries for agreement i (-1: only proposed)."""
        cast = trios(members)
        batch: list[Aggregate] = []
        for number in range(count):
            trio = next(cast)
            deliveries = shape(number)
            agreement = self.propose(trio, number, quantity=str(max(deliveries, 1) + 1))
            if deliveries >= 0:
                self.conclude(agreement, trio)
                for _ in range(deliveries):
                    self.deliver(agreement, trio)
            batch.append(agreement)
            if len(batch) >= SAVE_BATCH:
                self.save(batch)
                batch = []
                if progress is not None:
                    progress(number + 1)
        self.save(batch)

    def long_agreement(self, trio: tuple[Member, ...], events: int) -> str:
        """One agreement in force with `events` events (deliveries make up the rest)."""
        agreement = self.propose(trio, 0, quantity=str(events))
        self.conclude(agreement, trio)  # proposed, 3 signatures, concluded: 5 events
        while agreement.version < events:
            if events - agreement.version == 1:
                commitment_id = agreement.in_force.content.commitments[0].id  # type: ignore[union-attr]
                agreement.record_fulfilment(
                    trio[1].actor, commitment_id, "1", DELIVERED_ON, "geliefert"
                )
            else:
                self.deliver(agreement, trio)
            if len(agreement.pending_events) >= SAVE_BATCH:
                self.save([agreement])
        self.save([agreement])
        return agreement.agreement_id
