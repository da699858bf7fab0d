"""Deals: where an agreement made at a market comes from, and what it may not commit."""

from __future__ import annotations

from dataclasses import dataclass

from tris.domain.market.money import refuse_money
from tris.domain.values import Commitment, CommitmentDraft, Content, ContentDraft


@dataclass(frozen=True)
class Origin:
    """The market and deal an agreement comes from, the broker who made it (None when a
    participant made it for itself) and the offer and need it matched."""

    market_id: str
    deal_id: str
    broker: str | None
    offer_id: str | None = None
    need_id: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """Plain JSON-ready form (the view's `origin`)."""
        return {
            "market_id": self.market_id,
            "deal_id": self.deal_id,
            "broker": self.broker,
            "offer_id": self.offer_id,
            "need_id": self.need_id,
        }


def refuse_money_in(content: Content | ContentDraft) -> None:
    """MoneyAtMarketError when any commitment of `content` is funding or counts money."""
    commitments: tuple[Commitment | CommitmentDraft, ...] = content.commitments
    for index, commitment in enumerate(commitments):
        kind = commitment.kind if isinstance(commitment.kind, str) else commitment.kind.value
        refuse_money(f"commitment {index + 1}", kind, commitment.unit)
