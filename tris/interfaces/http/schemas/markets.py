"""Request and response schemas of markets: plans, offers and needs, deals, stats."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictStr

from tris.application.markets import DealRequest
from tris.domain.market.market import MarketFormat, MarketPlan
from tris.domain.market.posting import PostingDraft
from tris.domain.values import CommitmentKind, Terms
from tris.interfaces.http.schemas.agreements import (
    PUBLICATION_DESCRIPTION,
    QUANTITY_DESCRIPTION,
    AgreementView,
    CommitmentCreate,
    PublicationWord,
    TermsCreate,
)
from tris.interfaces.http.schemas.common import Input

MarketFormatWord = Literal["marketplace", "action_day", "round_table"]
MarketStatusWord = Literal["planned", "open", "closed", "cancelled"]
PostingStatusWord = Literal["open", "matched", "withdrawn"]
PartyIds = list[StrictStr]


class MarketCreate(Input):
    """A market to schedule: title, format, place, times, and its roles (party ids)."""

    title: str
    format: MarketFormatWord
    region: str | None = None
    venue: str | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    organisers: PartyIds = Field(min_length=1, max_length=50)
    brokers: PartyIds = Field(default_factory=list, max_length=50)
    notaries: PartyIds = Field(default_factory=list, max_length=50)

    def plan(self) -> MarketPlan:
        """The domain's market plan."""
        return MarketPlan(
            title=self.title,
            format=MarketFormat(self.format),
            region=self.region,
            venue=self.venue,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            organisers=tuple(self.organisers),
            brokers=tuple(self.brokers),
            notaries=tuple(self.notaries),
        )


class ParticipantCreate(Input):
    """A registered party to admit as a participant."""

    party_id: StrictStr


class CancellationCreate(Input):
    """Why a market is cancelled (may be empty)."""

    reason: str = ""


class MarketView(BaseModel):
    """A market as the v1 contract names its fields."""

    id: str
    title: str
    format: MarketFormatWord
    status: MarketStatusWord
    version: int
    region: str | None
    venue: str | None
    starts_at: str
    ends_at: str
    organisers: list[str]
    brokers: list[str]
    notaries: list[str]
    participants: list[str]
    cancellation_reason: str | None
    created_at: str
    updated_at: str


class MarketSummary(BaseModel):
    """A market in the list."""

    id: str
    title: str
    format: MarketFormatWord
    region: str | None
    venue: str | None
    status: MarketStatusWord
    starts_at: str
    ends_at: str
    participants: int = Field(description="How many parties take part")
    closed_at: str | None
    version: int


class MarketList(BaseModel):
    """A page of markets, latest scheduled first."""

    items: list[MarketSummary]
    next_cursor: str | None


class PostingCreate(Input):
    """An offer or a need, for the participant's own party. Money is taboo: no `funding`,
    no currency unit."""

    kind: CommitmentKind
    quantity: StrictStr = Field(description=QUANTITY_DESCRIPTION, examples=["4"])
    unit: str = Field(examples=["hours"])
    description: str
    corner: str | None = Field(
        None, description="The trading corner (e.g. hands-on help, expertise, logistics)"
    )

    def draft(self) -> PostingDraft:
        """The domain's posting draft."""
        return PostingDraft(
            kind=self.kind.value,
            quantity=self.quantity,
            unit=self.unit,
            description=self.description,
            corner=self.corner,
        )


class PostingWithdrawal(Input):
    """Why an offer or need is withdrawn (may be empty)."""

    reason: str = ""


class PostingView(BaseModel):
    """An offer or a need."""

    id: str
    market_id: str
    side: Literal["offer", "need"]
    party_id: str
    kind: str
    quantity: str
    unit: str
    description: str
    corner: str | None
    status: PostingStatusWord
    deal_id: str | None
    agreement_id: str | None
    version: int


class PostingList(BaseModel):
    """A page of a market's offers or needs, in the order they were posted."""

    items: list[PostingView]
    next_cursor: str | None


class DealCreate(Input):
    """A deal: the offer and need it matches and its agreement's content. Left out, the
    parties are the offer's and need's, the purpose their texts, and the commitment the
    offer's (owed by its party to the need's)."""

    offer_id: StrictStr | None = None
    need_id: StrictStr | None = None
    title: str
    purpose: str | None = None
    parties: list[StrictStr] | None = Field(None, max_length=100)
    terms: TermsCreate | None = None
    commitments: list[CommitmentCreate] | None = Field(None, max_length=500)
    publication: PublicationWord | None = Field(default=None, description=PUBLICATION_DESCRIPTION)

    def request(self) -> DealRequest:
        """The application's deal request."""
        return DealRequest(
            title=self.title,
            offer_id=self.offer_id,
            need_id=self.need_id,
            purpose=self.purpose,
            parties=tuple(self.parties) if self.parties is not None else None,
            terms=(
                Terms(self.terms.text, self.terms.starts_on, self.terms.ends_on)
                if self.terms
                else None
            ),
            commitments=(
                tuple(c.draft() for c in self.commitments) if self.commitments is not None else None
            ),
            publication=self.publication,
        )


class DealView(BaseModel):
    """A deal: its id, the agreement it proposed, and what it matched."""

    id: str
    agreement_id: str
    market_id: str
    offer_id: str | None
    need_id: str | None
    broker: str | None
    agreement: AgreementView


class NotarisationCreate(Input):
    """A notary's Ed25519 signature over the signing payload of the revision in force."""

    key_id: str
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature")


class KindUnitTotal(BaseModel):
    """Committed and fulfilled (confirmed) quantities of one kind and unit."""

    kind: str
    unit: str
    committed: str
    fulfilled: str


class MarketStatsView(BaseModel):
    """A market's evaluation."""

    market_id: str
    status: MarketStatusWord
    offers: int
    needs: int
    deals: int
    concluded: int = Field(description="Deals whose agreement was concluded (signed by all)")
    notarised: int
    completed: int
    fulfilment_rate: str | None = Field(
        description="completed ÷ concluded as a decimal string; null before any conclusion"
    )
    commitments: list[KindUnitTotal]


class FollowUpItem(BaseModel):
    """An agreement from the market in force without any recorded fulfilment."""

    agreement_id: str
    deal_id: str
    broker: str | None
    notarised: bool
    title: str | None
    parties: list[str]


class FollowUpList(BaseModel):
    """The follow-up list: empty until 14 days after the market closed (`due_on`)."""

    items: list[FollowUpItem]
    next_cursor: str | None
    due_on: str | None
