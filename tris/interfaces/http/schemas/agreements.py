"""Schemas of agreements: content drafts, commands with reasons, and views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms
from tris.interfaces.http.schemas.common import Input, IsoDate

AgreementStatusWord = Literal["proposed", "in_force", "completed", "terminated", "withdrawn"]
CommitmentStatusWord = Literal["open", "partially_fulfilled", "fulfilled", "overdue"]
SectorMixWord = Literal["trisectoral", "bisectoral", "intrasectoral"]

PublicationWord = Literal["restricted", "public"]
PUBLICATION_DESCRIPTION = (
    "`public` publishes the agreement once this content is in force (the signatures are "
    "the consent); `restricted` (the default) keeps it to its parties and auditors"
)
QUANTITY_DESCRIPTION = 'A decimal greater than zero as a JSON string (`"12.5"`), never a number'


# ---------------------------------------------------------------------------------- inputs


class TermsCreate(Input):
    """The terms of an agreement: free text and an optional period."""

    text: str
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None


class CommitmentCreate(Input):
    """What one party owes another (or, with no beneficiary, the public)."""

    id: str | None = Field(
        default=None,
        description="Only in revisions and amendments: keeps an existing commitment's id",
    )
    debtor: str
    beneficiary: str | None = Field(default=None, description="null: the public")
    kind: CommitmentKind
    quantity: StrictStr = Field(description=QUANTITY_DESCRIPTION, examples=["10"])
    unit: str = Field(examples=["hours"])
    description: str
    due_on: IsoDate | None = None

    def draft(self) -> CommitmentDraft:
        """The domain's commitment draft."""
        return CommitmentDraft(
            debtor=self.debtor,
            beneficiary=self.beneficiary,
            kind=self.kind,
            quantity=self.quantity,
            unit=self.unit,
            description=self.description,
            due_on=self.due_on,
            id=self.id,
        )


class AgreementCreate(Input):
    """The whole content of an agreement: revision 1 when proposed."""

    title: str
    purpose: str
    parties: list[str] = Field(max_length=100, description="Party ids, the proposer's included")
    terms: TermsCreate
    commitments: list[CommitmentCreate] = Field(max_length=500)
    publication: PublicationWord | None = Field(default=None, description=PUBLICATION_DESCRIPTION)

    def draft(self) -> ContentDraft:
        """The domain's content draft."""
        return ContentDraft(
            title=self.title,
            purpose=self.purpose,
            parties=tuple(self.parties),
            terms=Terms(self.terms.text, self.terms.starts_on, self.terms.ends_on),
            commitments=tuple(c.draft() for c in self.commitments),
            publication=self.publication,
        )


class RevisionCreate(AgreementCreate):
    """New whole content for a proposal, and why."""

    rationale: str


class AmendmentCreate(AgreementCreate):
    """New whole content proposed for an agreement in force, and why."""

    rationale: str


class SignatureCreate(Input):
    """A party's Ed25519 signature of a revision's signing payload."""

    revision: StrictInt
    key_id: str
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature")


class ReasonCreate(Input):
    """A reason for declining, withdrawing, terminating, rejecting or disputing."""

    reason: str


class ConfirmationCreate(Input):
    """A confirmation carries nothing but may be sent as `{}`; any field is refused."""


class EvidenceCreate(Input):
    """Where the evidence of a delivery is and the SHA-256 of what is there."""

    url: str
    sha256: str = Field(description="64 hex digits")


class FulfilmentCreate(Input):
    """A delivery recorded by a commitment's debtor."""

    quantity: StrictStr = Field(description=QUANTITY_DESCRIPTION, examples=["4"])
    delivered_on: IsoDate
    note: str = ""
    evidence: EvidenceCreate | None = None


# ----------------------------------------------------------------------------------- views


class TermsView(BaseModel):
    """Terms as stored."""

    text: str
    starts_on: date | None
    ends_on: date | None


class CommitmentTermsView(BaseModel):
    """A commitment as written in a revision."""

    id: str
    debtor: str
    beneficiary: str | None
    kind: CommitmentKind
    quantity: str = Field(description=QUANTITY_DESCRIPTION)
    unit: str
    description: str
    due_on: date | None


class CommitmentView(CommitmentTermsView):
    """A commitment of the governing revision, with how far it is fulfilled."""

    status: CommitmentStatusWord
    confirmed_quantity: str


class RevisionContentView(BaseModel):
    """A revision's content exactly as signed."""

    title: str
    purpose: str
    parties: list[str]
    terms: TermsView
    commitments: list[CommitmentTermsView]
    publication: PublicationWord = Field(
        default="restricted",
        description="`restricted` also when the signed content leaves the field out "
        "(as all content written before it existed does; the signing payload then has none)",
    )


class ContentView(RevisionContentView):
    """The governing content, each commitment with its status."""

    commitments: list[CommitmentView]  # type: ignore[assignment]


class AgreementPartyView(BaseModel):
    """A party of the agreement and where it stands on the latest revision."""

    party_id: str
    sector: Sector
    signed: bool = Field(description="Signed the latest revision")
    declined: bool
    in_latest_revision: bool


class EvidenceView(BaseModel):
    """Evidence of a delivery."""

    url: str
    sha256: str


class FulfilmentView(BaseModel):
    """A recorded delivery and its settlement."""

    id: str
    commitment_id: str
    debtor: str
    quantity: str
    delivered_on: date
    note: str
    evidence: EvidenceView | None
    status: Literal["recorded", "confirmed", "disputed"]
    recorded_by: str
    settled_by: str | None
    reason: str | None


class RecordedFulfilmentView(FulfilmentView):
    """A delivery just recorded, with the agreement's new version."""

    agreement_id: str
    version: int


class OriginView(BaseModel):
    """Where an agreement made at a market comes from."""

    market_id: str
    deal_id: str
    broker: str | None = Field(description="The broker who made the deal; null for a participant")
    offer_id: str | None = None
    need_id: str | None = None


class NotarisationView(BaseModel):
    """A market notary's countersignature of a revision in force."""

    party_id: str
    key_id: str
    revision: int


class AgreementView(BaseModel):
    """An agreement as the v1 contract names its fields."""

    id: str
    status: AgreementStatusWord
    version: int
    sector_mix: SectorMixWord
    proposer: str
    parties: list[AgreementPartyView]
    revision: int = Field(description="Number of the latest revision")
    in_force_revision: int | None
    pending_amendment: int | None
    content: ContentView = Field(description="The revision in force, else the latest proposal")
    fulfilments: list[FulfilmentView]
    termination_reason: str | None
    origin: OriginView | None = Field(
        None, description="The market deal the agreement comes from, if it was made at one"
    )
    notarised_by: list[NotarisationView] = Field(
        [], description="Notaries of the origin market who countersigned a revision in force"
    )
    published: bool = Field(
        False,
        description="The revision in force says `publication: public`: the agreement is "
        "readable without a token under /v1/public/",
    )
    created_at: datetime
    updated_at: datetime


class RevisionSignatureView(BaseModel):
    """A party's signature of a revision."""

    party_id: str
    key_id: str
    signature: str
    token_id: str


class DeclinationView(BaseModel):
    """A party's refusal of a revision."""

    party_id: str
    reason: str


class RevisionView(BaseModel):
    """One revision: content, hash, signing payload, signatures and declinations."""

    number: int
    kind: Literal["proposal", "revision", "amendment"]
    state: Literal["open", "in_force", "superseded", "rejected"]
    author: str
    rationale: str | None
    content: RevisionContentView
    content_hash: str
    sector_mix: SectorMixWord
    signing_payload: str = Field(description="The canonical JSON (RFC 8785) each party signs")
    signatures: list[RevisionSignatureView]
    declinations: list[DeclinationView]


class RevisionList(BaseModel):
    """Every revision of an agreement, oldest first."""

    items: list[RevisionView]
    next_cursor: str | None = None


class ChangeView(BaseModel):
    """One changed field between two revisions."""

    path: str
    change: Literal["changed", "added", "removed"]
    before: Any
    after: Any


class DiffView(BaseModel):
    """Field-level changes from revision `against` to revision `revision`."""

    revision: int
    against: int
    changes: list[ChangeView]


class ActorView(BaseModel):
    """Who caused an event: a party (or `operator`) and the token it used."""

    party_id: str
    token_id: str


class HistoryItemView(BaseModel):
    """One line of the audit timeline."""

    position: int | None = Field(description="Position in the global event log")
    version: int
    type: str
    time: datetime
    actor: ActorView
    actor_name: str | None
    summary: str
    hash: str | None = Field(
        default=None, description="The event's chain hash (see /v1/agreements/{id}/verification)"
    )


class HistoryView(BaseModel):
    """The audit timeline of an agreement, oldest first."""

    items: list[HistoryItemView]
    next_cursor: str | None = None
