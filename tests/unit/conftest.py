"""Domain-level builders for unit tests: parties with real Ed25519 keys, drafts, agreements.

Nothing here touches storage: aggregates are made and driven directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tris.domain.agreement import Agreement
from tris.domain.market.deal import Origin
from tris.domain.market.market import Market, MarketFormat, MarketPlan
from tris.domain.market.posting import Posting, PostingDraft, PostingSide
from tris.domain.party import Party, PartyDetails, SigningKey
from tris.domain.signing import key_registration
from tris.domain.values import (
    OPERATOR,
    Actor,
    CommitmentDraft,
    CommitmentKind,
    ContentDraft,
    Sector,
    Terms,
)

OPERATOR_ACTOR = Actor(OPERATOR, "token-admin")
"""The operator acting through its admin token."""


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of a private key's public half."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class Org:
    """A registered party, the actor it acts as, and the private half of its signing key."""

    party: Party
    actor: Actor
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def id(self) -> str:
        """The party id."""
        return self.party.party_id

    @property
    def sector(self) -> Sector:
        """The party's sector."""
        return self.party.sector

    def key(self) -> SigningKey:
        """The registered key, resolved the way the application resolves it."""
        return self.party.key_for_signing(self.key_id, signer=self.id)

    def signature(self, payload: bytes) -> bytes:
        """A raw Ed25519 signature of some bytes with this party's key."""
        return self.private_key.sign(payload)

    def sign(self, agreement: Agreement, revision: int | None = None) -> bool:
        """Sign a revision (the latest by default) correctly; return whether it concluded."""
        number = agreement.latest.number if revision is None else revision
        return agreement.sign(
            self.actor, number, self.key(), self.signature(agreement.payload(number))
        )


@dataclass
class DomainWorld:
    """Parties made with `Party.register` and helpers to draft and drive agreements."""

    orgs: dict[str, Org] = field(default_factory=dict)

    def org(self, name: str, sector: Sector) -> Org:
        """Register a party with one signing key; it acts through its own token."""
        party = Party.register(
            party_id=uuid.uuid4(),
            actor=OPERATOR_ACTOR,
            details=PartyDetails(name=name, sector=sector, region="Berlin-Mitte"),
        )
        actor = Actor(party.party_id, f"token-{len(self.orgs) + 1}")
        private_key = Ed25519PrivateKey.generate()
        key_id = party.register_signing_key(actor, *key_registration(private_key, party.party_id))
        org = Org(party, actor, private_key, key_id)
        self.orgs[name] = org
        return org

    def sectors(self) -> dict[str, Sector]:
        """The sector of every registered party, by party id."""
        return {org.id: org.sector for org in self.orgs.values()}

    @staticmethod
    def commitment(
        debtor: Org,
        beneficiary: Org | None,
        *,
        quantity: str | Decimal | float = "10",
        kind: CommitmentKind | str = CommitmentKind.TIME,
        unit: str = "hours",
        description: str = "Kochen mit Azubis",
        due_on: date | None = None,
        commitment_id: str | None = None,
    ) -> CommitmentDraft:
        """A commitment draft: `debtor` owes `beneficiary` (None: the public)."""
        return CommitmentDraft(
            debtor=debtor.id,
            beneficiary=None if beneficiary is None else beneficiary.id,
            kind=kind,
            quantity=quantity,  # type: ignore[arg-type]
            unit=unit,
            description=description,
            due_on=due_on,
            id=commitment_id,
        )

    def draft(
        self,
        *parties: Org,
        commitments: tuple[CommitmentDraft, ...] | None = None,
        title: str = "Kiezküche Moabit",
        purpose: str = "Gemeinsam ein Mittagessen für Nachbarn organisieren",
        terms: Terms | None = None,
    ) -> ContentDraft:
        """A draft among `parties`; by default the first owes the second ten hours."""
        if commitments is None:
            commitments = (self.commitment(parties[0], parties[1]),)
        return ContentDraft(
            title=title,
            purpose=purpose,
            parties=tuple(p.id for p in parties),
            terms=terms or Terms(text="Nach dem Marktplatz-Prinzip, ohne Geld"),
            commitments=commitments,
        )

    def propose(self, proposer: Org, draft: ContentDraft) -> Agreement:
        """Propose `draft` on behalf of `proposer`."""
        return Agreement.propose(
            agreement_id=uuid.uuid4(),
            actor=proposer.actor,
            draft=draft,
            party_sectors=self.sectors(),
        )

    def revise(self, agreement: Agreement, author: Org, draft: ContentDraft) -> int:
        """Revise a proposal with a stock rationale; return the new revision number."""
        return agreement.revise(author.actor, draft, "Zeiten angepasst", self.sectors())

    def amend(self, agreement: Agreement, author: Org, draft: ContentDraft) -> int:
        """Propose an amendment with a stock rationale; return its revision number."""
        return agreement.propose_amendment(author.actor, draft, "Mehr Stunden", self.sectors())

    def sign_all(self, agreement: Agreement) -> None:
        """Have everyone whose signature the latest revision needs sign it."""
        by_id = {org.id: org for org in self.orgs.values()}
        for party_id in agreement.signers:
            by_id[party_id].sign(agreement)

    @staticmethod
    def plan(organiser: Org, broker: Org, notary: Org, **overrides: object) -> MarketPlan:
        """A Marktplatz plan for a June afternoon, with one organiser, broker and notary."""
        fields: dict[str, object] = {
            "title": "Marktplatz Neukölln",
            "format": MarketFormat.MARKETPLACE,
            "region": "Berlin-Neukölln",
            "venue": "Rathaus Neukölln",
            "starts_at": datetime(2026, 6, 1, 14, tzinfo=UTC),
            "ends_at": datetime(2026, 6, 1, 16, tzinfo=UTC),
            "organisers": (organiser.id,),
            "brokers": (broker.id,),
            "notaries": (notary.id,),
        }
        fields.update(overrides)
        return MarketPlan(**fields)  # type: ignore[arg-type]

    def market(self, organiser: Org, broker: Org, notary: Org, *participants: Org) -> Market:
        """A scheduled market with its participants admitted, opened."""
        market = Market.schedule(
            market_id=uuid.uuid4(),
            actor=OPERATOR_ACTOR,
            plan=self.plan(organiser, broker, notary),
        )
        for participant in participants:
            market.admit(organiser.actor, participant.id)
        market.open(organiser.actor)
        return market

    @staticmethod
    def posting(
        market: Market, who: Org, side: PostingSide, kind: str = "time", unit: str = "hours"
    ) -> Posting:
        """An offer or need of `who` at `market`."""
        return Posting.post(
            posting_id=uuid.uuid4(),
            actor=who.actor,
            market=market,
            side=side,
            draft=PostingDraft(kind, "8", unit, "Einen Tag streichen"),
        )

    def deal(self, market: Market, broker: Org, draft: ContentDraft) -> Agreement:
        """The agreement of a deal the broker made at the market."""
        origin = Origin(market.market_id, str(uuid.uuid4()), broker.id)
        return Agreement.propose_at_market(
            agreement_id=uuid.uuid4(),
            actor=broker.actor,
            draft=draft,
            party_sectors=self.sectors(),
            origin=origin,
        )

    def in_force(self, proposer: Org, draft: ContentDraft) -> Agreement:
        """Propose `draft` and have every party sign it, so that it is in force."""
        agreement = self.propose(proposer, draft)
        self.sign_all(agreement)
        return agreement


@pytest.fixture
def world() -> DomainWorld:
    """A fresh set of parties and the builders that use them."""
    return DomainWorld()


@pytest.fixture
def state(world: DomainWorld) -> Org:
    """A district office (state sector)."""
    return world.org("Bezirksamt Mitte", Sector.STATE)


@pytest.fixture
def business(world: DomainWorld) -> Org:
    """A bakery (business sector)."""
    return world.org("Kiezbäckerei GmbH", Sector.BUSINESS)


@pytest.fixture
def civil(world: DomainWorld) -> Org:
    """A neighbourhood association (civil society)."""
    return world.org("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY)


@pytest.fixture
def outsider(world: DomainWorld) -> Org:
    """A party that is not a party of the agreements the tests build."""
    return world.org("Außenstehende AG", Sector.BUSINESS)
