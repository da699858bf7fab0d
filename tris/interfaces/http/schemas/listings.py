"""Schemas of the read-model answers: agreement lists, a party's commitments, statistics."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AgreementPartyItem(BaseModel):
    """A party of a listed agreement and its sector."""

    party_id: str
    sector: str


class AgreementSummary(BaseModel):
    """One agreement in a list: enough to choose it, read it in full by its `id`."""

    id: str
    title: str
    status: str = Field(description="proposed, in_force, completed, terminated or withdrawn")
    sector_mix: str = Field(description="trisectoral, bisectoral or intrasectoral")
    proposer: str
    version: int
    revision: int
    in_force_revision: int | None
    created_at: str
    updated_at: str
    parties: list[AgreementPartyItem]


class AgreementList(BaseModel):
    """A page of agreements, newest first."""

    items: list[AgreementSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class PartyCommitmentItem(BaseModel):
    """A commitment a party owes (`direction: owed`) or receives (`received`)."""

    agreement_id: str
    agreement_title: str
    agreement_status: str
    id: str
    direction: str
    debtor: str
    beneficiary: str | None
    kind: str
    quantity: str
    unit: str
    description: str
    due_on: str | None
    confirmed_quantity: str
    status: str = Field(description="open, partially_fulfilled, fulfilled or overdue")


class PartyCommitmentList(BaseModel):
    """A page of a party's commitments."""

    items: list[PartyCommitmentItem]
    next_cursor: str | None


class MixStatusCount(BaseModel):
    """Agreements of one sector mix in one status."""

    sector_mix: str
    status: str
    count: int


class MonthMixCount(BaseModel):
    """Agreements of one sector mix that came into force in one month."""

    month: str = Field(description="YYYY-MM")
    sector_mix: str
    count: int


class AgreementStats(BaseModel):
    """Agreements counted by sector mix and status."""

    total: int
    by_sector_mix: dict[str, int]
    by_status: dict[str, int]
    by_sector_mix_and_status: list[MixStatusCount]
    trisectoral_share: str | None = Field(description="Share of trisectoral agreements, 4 places")
    by_concluded_month: list[MonthMixCount] = Field(
        default_factory=list,
        description="Agreements by the month they came into force and their sector mix",
    )


class KindUnitTotal(BaseModel):
    """Committed and confirmed-fulfilled quantity of one kind and unit (decimal strings)."""

    kind: str
    unit: str
    committed: str
    fulfilled: str


class MonthTotal(KindUnitTotal):
    """The same, for one month (committed: month in force; fulfilled: month delivered)."""

    month: str


class CommitmentStats(BaseModel):
    """Commitment quantities by kind and unit, and by month."""

    by_kind_and_unit: list[KindUnitTotal]
    by_month: list[MonthTotal]


class StatsView(BaseModel):
    """What the whole sector has agreed, committed and delivered."""

    agreements: AgreementStats
    commitments: CommitmentStats
