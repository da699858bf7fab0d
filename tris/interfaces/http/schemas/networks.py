"""Request and response schemas of networks and memberships."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictStr

from tris.domain.networks.membership import MembershipTerms
from tris.interfaces.http.schemas.common import Input, IsoDate

MembershipStatusWord = Literal["pending", "active", "rejected", "ended"]


class MembershipCreate(Input):
    """A membership to ask for (or, as admin, to record): who joins, in what role, when,
    and on what basis."""

    member_id: StrictStr
    role: StrictStr = Field(examples=["member", "founding_member", "board"])
    valid_from: IsoDate
    valid_to: IsoDate | None = Field(None, description="The last day; null: open-ended")
    basis: str = Field("", examples=["Beschluss der Mitgliederversammlung vom 12. März 2026"])

    def terms(self, network_id: str) -> MembershipTerms:
        """The domain's membership terms."""
        return MembershipTerms(
            network_id=network_id,
            member_id=self.member_id,
            role=self.role,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            basis=self.basis,
        )


class MembershipRejection(Input):
    """Why the request is rejected (may be empty)."""

    reason: str = ""


class MembershipEnd(Input):
    """The last day of the membership, and why it ends."""

    valid_to: IsoDate
    reason: str = ""


class MembershipCorrection(Input):
    """The corrected period of a membership, and why the record was wrong."""

    valid_from: IsoDate
    valid_to: IsoDate | None = None
    reason: str


class MembershipView(BaseModel):
    """A membership as the v1 contract names its fields."""

    id: str
    network_id: str
    member_id: str
    role: str
    valid_from: str
    valid_to: str | None
    basis: str
    status: MembershipStatusWord
    requested_by: str
    end_reason: str | None = None
    version: int


class MembershipList(BaseModel):
    """A page of a network's memberships, in the order they were asked for."""

    items: list[MembershipView]
    next_cursor: str | None


class MemberItem(BaseModel):
    """A member of the network on the day asked."""

    member_id: str
    role: str
    via: str | None = Field(description="The member network it belongs through; null: directly")
    depth: int = Field(description="1 for a direct member, 2 for a member of a member, …")
    valid_from: str
    valid_to: str | None
    membership_id: str


class NetworkItem(BaseModel):
    """A network the party belongs to on the day asked."""

    network_id: str
    role: str
    via: str | None = Field(description="The network it belongs through; null: directly")
    depth: int
    valid_from: str
    valid_to: str | None
    membership_id: str


class MemberList(BaseModel):
    """Members on a day (`as_of`), as known at `recorded_as_of`."""

    as_of: str
    recorded_as_of: str | None
    transitive: bool
    items: list[MemberItem]
    next_cursor: str | None


class NetworkList(BaseModel):
    """Networks on a day (`as_of`), as known at `recorded_as_of`."""

    as_of: str
    recorded_as_of: str | None
    transitive: bool
    items: list[NetworkItem]
    next_cursor: str | None
