"""The Membership aggregate: one party's membership of one network, requested by one side
and accepted by the other (or recorded by an operator), ended or corrected over time."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from enum import Enum

from eventsourcing.domain import Aggregate, event

from tris.domain.errors import (
    InvalidMembershipError,
    MembershipStatusError,
    NotAMembershipSideError,
)
from tris.domain.networks.cycles import Edge
from tris.domain.values import OPERATOR, Actor, check_date, check_text

MAX_BASIS = 2_000
MAX_REASON = 2_000
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# The one aggregate every change of the membership graph also writes: two changes that
# could close a circle together never commit both (ADR 21).
GRAPH_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://tris.example/membership-graph")


class MembershipStatus(Enum):
    """pending (requested), active (accepted or recorded), rejected, ended."""

    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    ENDED = "ended"


@dataclass(frozen=True)
class MembershipTerms:
    """What a membership is: who belongs to which network, in what role, when, and why."""

    network_id: str
    member_id: str
    role: str
    valid_from: date
    valid_to: date | None
    basis: str

    def validate(self) -> None:
        """InvalidMembershipError unless the terms keep every rule."""
        if not isinstance(self.role, str) or not _ROLE.match(self.role):
            raise InvalidMembershipError(
                "role is a short lower-case word such as member, founding_member or board"
            )
        check_date("valid_from", self.valid_from)
        if self.valid_to is not None:
            check_date("valid_to", self.valid_to)
        _validity(self.valid_from, self.valid_to)
        if not isinstance(self.basis, str) or len(self.basis) > MAX_BASIS:
            raise InvalidMembershipError(f"basis is text of at most {MAX_BASIS} characters")
        check_text("basis", self.basis, multiline=True)

    def edge(self) -> Edge:
        """The membership as an edge of the graph."""
        return Edge(self.network_id, self.member_id, self.valid_from, self.valid_to)


def _validity(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise InvalidMembershipError(
            f"valid_to {valid_to.isoformat()} is before valid_from {valid_from.isoformat()}"
        )


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidMembershipError(f"a reason is text of at most {MAX_REASON} characters")
    return check_text("reason", reason, multiline=True)


class Membership(Aggregate):
    """A party's membership of a network, with the consent of both sides."""

    class Requested(Aggregate.Created):
        """One side asked for the membership; the other has to accept it."""

        actor: Actor
        terms: MembershipTerms

    class Recorded(Aggregate.Created):
        """An operator recorded the membership directly (an import of known history)."""

        actor: Actor
        terms: MembershipTerms

    class Accepted(Aggregate.Event):
        """The other side accepted: the membership is active."""

        actor: Actor

    class Rejected(Aggregate.Event):
        """The other side rejected the request."""

        actor: Actor
        reason: str

    class Ended(Aggregate.Event):
        """Either side ended the membership on `valid_to`."""

        actor: Actor
        valid_to: date
        reason: str

    class Corrected(Aggregate.Event):
        """The validity period was corrected (the record was wrong, not the membership)."""

        actor: Actor
        valid_from: date
        valid_to: date | None
        reason: str

    def __init__(self, actor: Actor, terms: MembershipTerms) -> None:
        self.terms = terms
        self.requested_by = actor.party_id
        self.status = (
            MembershipStatus.ACTIVE if actor.party_id == OPERATOR else MembershipStatus.PENDING
        )
        self.end_reason: str | None = None

    @classmethod
    def request(
        cls, *, membership_id: uuid.UUID, actor: Actor, terms: MembershipTerms
    ) -> Membership:
        """A side asks for a membership (pending), or an operator records it (active)."""
        terms.validate()
        if actor.party_id == OPERATOR:
            return cls._create(cls.Recorded, id=membership_id, actor=actor, terms=terms)
        if actor.party_id not in (terms.network_id, terms.member_id):
            raise NotAMembershipSideError(
                "a membership is requested by the network or by the member itself"
            )
        return cls._create(cls.Requested, id=membership_id, actor=actor, terms=terms)

    # ----------------------------------------------------------------- queries

    @property
    def membership_id(self) -> str:
        """The membership's id as clients see it."""
        return str(self.id)

    @property
    def other_side(self) -> str:
        """The side that did not request the membership (the one that accepts it)."""
        terms = self.terms
        return terms.member_id if self.requested_by == terms.network_id else terms.network_id

    def is_side(self, party_id: str) -> bool:
        """True for the network and the member."""
        return party_id in (self.terms.network_id, self.terms.member_id)

    @property
    def in_graph(self) -> bool:
        """True when the membership holds for its period (active, or ended)."""
        return self.status in (MembershipStatus.ACTIVE, MembershipStatus.ENDED)

    # ---------------------------------------------------------------- commands

    def accept(self, actor: Actor) -> None:
        """The other side accepts the request."""
        self._require_pending("accepted")
        if actor.party_id != self.other_side:
            raise NotAMembershipSideError(
                f"only party {self.other_side}, the side that did not ask, accepts"
            )
        self._accept(actor=actor)

    @event(Accepted)
    def _accept(self, actor: Actor) -> None:
        self.status = MembershipStatus.ACTIVE

    def reject(self, actor: Actor, reason: str) -> None:
        """The other side rejects the request."""
        self._require_pending("rejected")
        if actor.party_id != self.other_side:
            raise NotAMembershipSideError(
                f"only party {self.other_side}, the side that did not ask, rejects"
            )
        self._reject(actor=actor, reason=_reason(reason))

    @event(Rejected)
    def _reject(self, actor: Actor, reason: str) -> None:
        self.status = MembershipStatus.REJECTED

    def end(self, actor: Actor, valid_to: date, reason: str) -> None:
        """Either side (or an operator) ends an active membership on `valid_to`."""
        self._require_side(actor, "ends")
        if self.status is not MembershipStatus.ACTIVE:
            raise MembershipStatusError(f"a {self.status.value} membership cannot be ended")
        check_date("valid_to", valid_to)
        _validity(self.terms.valid_from, valid_to)
        if self.terms.valid_to is not None and valid_to > self.terms.valid_to:
            raise InvalidMembershipError(
                f"the membership ends on {self.terms.valid_to.isoformat()} already; correct "
                "its period to extend it"
            )
        self._end(actor=actor, valid_to=valid_to, reason=_reason(reason))

    @event(Ended)
    def _end(self, actor: Actor, valid_to: date, reason: str) -> None:
        self.status = MembershipStatus.ENDED
        self.terms = MembershipTerms(
            self.terms.network_id,
            self.terms.member_id,
            self.terms.role,
            self.terms.valid_from,
            valid_to,
            self.terms.basis,
        )
        self.end_reason = reason

    def correct(self, actor: Actor, valid_from: date, valid_to: date | None, reason: str) -> None:
        """Correct the validity period of a membership that holds (either side, an operator)."""
        self._require_side(actor, "corrects")
        if not self.in_graph:
            raise MembershipStatusError(
                f"a {self.status.value} membership has no period to correct"
            )
        check_date("valid_from", valid_from)
        if valid_to is not None:
            check_date("valid_to", valid_to)
        _validity(valid_from, valid_to)
        if self.status is MembershipStatus.ENDED and valid_to is None:
            # An open end would make an ended membership hold again while it says `ended`.
            raise InvalidMembershipError(
                "an ended membership keeps a last day: correct valid_to to another day, "
                "or ask for a new membership"
            )
        if not reason.strip():
            raise InvalidMembershipError("a correction says why")
        self._correct(actor=actor, valid_from=valid_from, valid_to=valid_to, reason=_reason(reason))

    @event(Corrected)
    def _correct(self, actor: Actor, valid_from: date, valid_to: date | None, reason: str) -> None:
        self.terms = MembershipTerms(
            self.terms.network_id,
            self.terms.member_id,
            self.terms.role,
            valid_from,
            valid_to,
            self.terms.basis,
        )

    # ----------------------------------------------------------------- helpers

    def _require_pending(self, outcome: str) -> None:
        if self.status is not MembershipStatus.PENDING:
            raise MembershipStatusError(f"a {self.status.value} membership cannot be {outcome}")

    def _require_side(self, actor: Actor, action: str) -> None:
        if actor.party_id != OPERATOR and not self.is_side(actor.party_id):
            raise NotAMembershipSideError(f"only the network or the member {action} a membership")


class MembershipGraph(Aggregate):
    """The one aggregate every change to the graph writes as well, so that changes that
    could close a circle together are decided one after the other (ADR 21)."""

    class Started(Aggregate.Created):
        """The graph's first change."""

        actor: Actor

    class Changed(Aggregate.Event):
        """A membership entered the graph or its period changed."""

        actor: Actor
        membership_id: str

    def __init__(self, actor: Actor) -> None:
        self.changes = 0

    @classmethod
    def start(cls, actor: Actor) -> MembershipGraph:
        """The graph, before its first change."""
        return cls._create(cls.Started, id=GRAPH_ID, actor=actor)

    def change(self, actor: Actor, membership_id: str) -> None:
        """Record that a membership changed the graph."""
        self._change(actor=actor, membership_id=membership_id)

    @event(Changed)
    def _change(self, actor: Actor, membership_id: str) -> None:
        self.changes += 1
