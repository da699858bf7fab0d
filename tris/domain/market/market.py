"""The Market aggregate: a Marktplatz, action day or round table, from planning to its end.

The market itself changes rarely: it is scheduled, takes its participants, opens, closes or
is cancelled. Offers and needs are aggregates of their own (`posting.py`) and a deal is the
agreement it creates, so that a hundred participants posting and trading at once never
write the same aggregate (ADR 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from tris.domain.errors import (
    AlreadyParticipantError,
    InvalidMarketError,
    MarketNotOpenError,
    MarketStatusError,
    NotAnOrganiserError,
)
from tris.domain.values import Actor, check_date, check_text

MAX_TITLE = 500
MAX_PLACE = 200
MAX_REASON = 5_000
MAX_LISTED = 50


class MarketFormat(Enum):
    """The kinds of market: a Marktplatz, a local action day, a round table."""

    MARKETPLACE = "marketplace"
    ACTION_DAY = "action_day"
    ROUND_TABLE = "round_table"


class MarketStatus(Enum):
    """Where a market stands: planned, open (trading), closed, or cancelled."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class MarketPlan:
    """What an operator schedules: title, format, place, times and the market's roles."""

    title: str
    format: MarketFormat
    region: str | None
    venue: str | None
    starts_at: datetime
    ends_at: datetime
    organisers: tuple[str, ...]
    brokers: tuple[str, ...]
    notaries: tuple[str, ...]

    def validate(self) -> None:
        """InvalidMarketError unless the plan keeps every rule."""
        _text("title", self.title, MAX_TITLE, required=True)
        _text("region", self.region, MAX_PLACE)
        _text("venue", self.venue, MAX_PLACE)
        for what, moment in (("starts_at", self.starts_at), ("ends_at", self.ends_at)):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise InvalidMarketError(f"{what} needs a time zone offset (RFC 3339)")
            check_date(what, moment.date())
        if self.ends_at <= self.starts_at:
            raise InvalidMarketError("a market ends after it starts (ends_at > starts_at)")
        if not self.organisers:
            raise InvalidMarketError("a market needs at least one organiser")
        for what, ids in (
            ("organisers", self.organisers),
            ("brokers", self.brokers),
            ("notaries", self.notaries),
        ):
            if len(ids) > MAX_LISTED:
                raise InvalidMarketError(f"{what} name at most {MAX_LISTED} parties")
            if len(set(ids)) != len(ids):
                raise InvalidMarketError(f"{what} name a party twice")


def _text(what: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise InvalidMarketError(f"a market needs a {what}")
        return
    check_text(what, value)
    if required and not value.strip():
        raise InvalidMarketError(f"a market needs a non-empty {what}")
    if len(value) > limit:
        raise InvalidMarketError(f"{what} has at most {limit} characters")


class Market(Aggregate):
    """A market where businesses, non-profits and administrations trade cooperation."""

    class Scheduled(Aggregate.Created):
        """An operator scheduled a market with its organisers, brokers and notaries."""

        actor: Actor
        plan: MarketPlan

    class ParticipantAdmitted(Aggregate.Event):
        """An organiser admitted a party to take part."""

        actor: Actor
        party_id: str

    class Opened(Aggregate.Event):
        """An organiser opened trading."""

        actor: Actor

    class Closed(Aggregate.Event):
        """An organiser closed trading (the closing gong)."""

        actor: Actor

    class Cancelled(Aggregate.Event):
        """An organiser cancelled the market."""

        actor: Actor
        reason: str

    def __init__(self, actor: Actor, plan: MarketPlan) -> None:
        self.plan = plan
        self.status = MarketStatus.PLANNED
        self.participants: tuple[str, ...] = ()
        self.cancellation_reason: str | None = None

    @classmethod
    def schedule(cls, *, market_id: UUID, actor: Actor, plan: MarketPlan) -> Market:
        """Schedule a market (status `planned`)."""
        plan.validate()
        return cls._create(cls.Scheduled, id=market_id, actor=actor, plan=plan)

    # ----------------------------------------------------------------- queries

    @property
    def market_id(self) -> str:
        """The market's id as clients see it."""
        return str(self.id)

    def is_organiser(self, party_id: str) -> bool:
        """True when the party organises this market."""
        return party_id in self.plan.organisers

    def is_broker(self, party_id: str) -> bool:
        """True when the party brokers deals at this market."""
        return party_id in self.plan.brokers

    def is_notary(self, party_id: str) -> bool:
        """True when the party notarises this market's agreements."""
        return party_id in self.plan.notaries

    def is_participant(self, party_id: str) -> bool:
        """True when the party takes part (posts offers and needs, makes deals)."""
        return party_id in self.participants

    def runs_with(self, party_id: str) -> bool:
        """True when the party has any role at this market."""
        return party_id in (
            *self.plan.organisers,
            *self.plan.brokers,
            *self.plan.notaries,
            *self.participants,
        )

    def require_posting(self) -> None:
        """MarketStatusError unless offers and needs may be posted (planned or open)."""
        if self.status not in (MarketStatus.PLANNED, MarketStatus.OPEN):
            raise MarketStatusError(
                f"the market is {self.status.value}: offers and needs are posted while it "
                "is planned or open"
            )

    def require_trading(self) -> None:
        """MarketNotOpenError unless the market is open."""
        if self.status is not MarketStatus.OPEN:
            raise MarketNotOpenError(
                f"the market is {self.status.value}: deals are made only while it is open"
            )

    # ---------------------------------------------------------------- commands

    def admit(self, actor: Actor, party_id: str) -> None:
        """Admit a registered party as a participant (an organiser, while planned or open)."""
        self._require_organiser(actor, "admit participants")
        if self.status not in (MarketStatus.PLANNED, MarketStatus.OPEN):
            raise MarketStatusError(
                f"the market is {self.status.value}: participants join while it is planned or open"
            )
        if party_id in self.participants:
            raise AlreadyParticipantError(f"party {party_id} takes part already")
        self._admit(actor=actor, party_id=party_id)

    @event(ParticipantAdmitted)
    def _admit(self, actor: Actor, party_id: str) -> None:
        self.participants = (*self.participants, party_id)

    def open(self, actor: Actor) -> None:
        """Open trading (planned → open)."""
        self._require_organiser(actor, "open the market")
        self._require(MarketStatus.PLANNED, "opened")
        self._open(actor=actor)

    @event(Opened)
    def _open(self, actor: Actor) -> None:
        self.status = MarketStatus.OPEN

    def close(self, actor: Actor) -> None:
        """Close trading (open → closed)."""
        self._require_organiser(actor, "close the market")
        self._require(MarketStatus.OPEN, "closed")
        self._close(actor=actor)

    @event(Closed)
    def _close(self, actor: Actor) -> None:
        self.status = MarketStatus.CLOSED

    def cancel(self, actor: Actor, reason: str) -> None:
        """Cancel a planned or open market."""
        self._require_organiser(actor, "cancel the market")
        if self.status not in (MarketStatus.PLANNED, MarketStatus.OPEN):
            raise MarketStatusError(f"a {self.status.value} market cannot be cancelled")
        check_text("reason", reason, multiline=True)
        if len(reason) > MAX_REASON:
            raise InvalidMarketError(f"the reason has at most {MAX_REASON} characters")
        self._cancel(actor=actor, reason=reason)

    @event(Cancelled)
    def _cancel(self, actor: Actor, reason: str) -> None:
        self.status = MarketStatus.CANCELLED
        self.cancellation_reason = reason

    # ----------------------------------------------------------------- helpers

    def _require_organiser(self, actor: Actor, action: str) -> None:
        if not self.is_organiser(actor.party_id):
            raise NotAnOrganiserError(f"only the market's organisers {action}")

    def _require(self, status: MarketStatus, outcome: str) -> None:
        if self.status is not status:
            raise MarketStatusError(
                f"a {self.status.value} market cannot be {outcome} (it must be {status.value})"
            )
