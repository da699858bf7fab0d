"""Offers and needs: what a participant brings to a market, each an aggregate of its own.

One aggregate per offer or need means that posting never writes the market, so
participants posting at the same moment never conflict; matching one writes only that
offer or need, and its version decides which of two deals made at once gets it (ADR 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from tris.domain.errors import (
    InvalidContentError,
    NotAParticipantError,
    PostingNotOpenError,
)
from tris.domain.market.market import Market
from tris.domain.market.money import refuse_money
from tris.domain.values import (
    MAX_TEXT,
    Actor,
    CommitmentKind,
    check_text,
    parse_quantity,
    valid_unit,
)

MAX_CORNER = 100


class PostingSide(Enum):
    """Whether a participant offers something or needs it."""

    OFFER = "offer"
    NEED = "need"


class PostingStatus(Enum):
    """An offer or need is open, matched by one deal, or withdrawn."""

    OPEN = "open"
    MATCHED = "matched"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class PostingDraft:
    """An offer or need as a participant writes it."""

    kind: str
    quantity: str
    unit: str
    description: str
    corner: str | None = None


class Posting(Aggregate):
    """One offer or need of one participant at one market."""

    class Posted(Aggregate.Created):
        """A participant posted an offer or a need."""

        actor: Actor
        market_id: str
        side: PostingSide
        party_id: str
        kind: CommitmentKind
        quantity: Decimal
        unit: str
        description: str
        corner: str | None

    class Matched(Aggregate.Event):
        """A deal took the offer or need: it is matched, once and for all."""

        actor: Actor
        deal_id: str
        agreement_id: str

    class Withdrawn(Aggregate.Event):
        """Its participant withdrew the offer or need."""

        actor: Actor
        reason: str

    def __init__(
        self,
        actor: Actor,
        market_id: str,
        side: PostingSide,
        party_id: str,
        kind: CommitmentKind,
        quantity: Decimal,
        unit: str,
        description: str,
        corner: str | None,
    ) -> None:
        self.market_id = market_id
        self.side = side
        self.party_id = party_id
        self.kind = kind
        self.quantity = quantity
        self.unit = unit
        self.description = description
        self.corner = corner
        self.status = PostingStatus.OPEN
        self.deal_id: str | None = None
        self.agreement_id: str | None = None

    @classmethod
    def post(
        cls,
        *,
        posting_id: UUID,
        actor: Actor,
        market: Market,
        side: PostingSide,
        draft: PostingDraft,
    ) -> Posting:
        """Post an offer or need for the actor's own party at a planned or open market."""
        if not market.is_participant(actor.party_id):
            raise NotAParticipantError(
                f"party {actor.party_id} does not take part in this market; only "
                "participants post offers and needs, each for itself"
            )
        market.require_posting()
        what = f"the {side.value}"
        try:
            kind = CommitmentKind(draft.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in CommitmentKind if k.value != "funding")
            raise InvalidContentError(f"{what}: kind must be one of {kinds}") from None
        quantity = parse_quantity(draft.quantity)
        if not valid_unit(draft.unit):
            raise InvalidContentError(f"{what}: unit must be a short word such as 'hours'")
        refuse_money(what, kind.value, draft.unit)
        _text(f"{what}: description", draft.description, MAX_TEXT, multiline=True)
        if draft.corner is not None:
            _text(f"{what}: corner", draft.corner, MAX_CORNER)
        return cls._create(
            cls.Posted,
            id=posting_id,
            actor=actor,
            market_id=market.market_id,
            side=side,
            party_id=actor.party_id,
            kind=kind,
            quantity=quantity,
            unit=draft.unit,
            description=draft.description,
            corner=draft.corner,
        )

    @property
    def posting_id(self) -> str:
        """The offer's or need's id as clients see it."""
        return str(self.id)

    def match(self, actor: Actor, deal_id: str, agreement_id: str) -> None:
        """Mark the offer or need matched by a deal (at most once)."""
        self.require_open("matched")
        self._match(actor=actor, deal_id=deal_id, agreement_id=agreement_id)

    @event(Matched)
    def _match(self, actor: Actor, deal_id: str, agreement_id: str) -> None:
        self.status = PostingStatus.MATCHED
        self.deal_id = deal_id
        self.agreement_id = agreement_id

    def withdraw(self, actor: Actor, reason: str) -> None:
        """Withdraw an open offer or need (its own participant only)."""
        if actor.party_id != self.party_id:
            raise NotAParticipantError(
                f"only party {self.party_id} withdraws its {self.side.value}"
            )
        self.require_open("withdrawn")
        _text("reason", reason, MAX_TEXT, multiline=True, allow_empty=True)
        self._withdraw(actor=actor, reason=reason)

    @event(Withdrawn)
    def _withdraw(self, actor: Actor, reason: str) -> None:
        self.status = PostingStatus.WITHDRAWN

    def require_open(self, outcome: str) -> None:
        """PostingNotOpenError unless the offer or need is open."""
        if self.status is not PostingStatus.OPEN:
            raise PostingNotOpenError(
                f"the {self.side.value} {self.posting_id} is {self.status.value} and cannot be "
                f"{outcome}"
            )


def _text(
    what: str, value: str, limit: int, *, multiline: bool = False, allow_empty: bool = False
) -> None:
    if not isinstance(value, str):
        raise InvalidContentError(f"{what} must be text")
    check_text(what, value, multiline=multiline)
    if not value.strip() and not allow_empty:
        raise InvalidContentError(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidContentError(f"{what} has at most {limit} characters")
