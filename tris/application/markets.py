"""Use cases for markets: schedule and run one, post offers and needs, make deals, notarise.

Posting and dealing never write the market aggregate: an offer or need is an aggregate of
its own, and a deal saves the agreement it proposes together with the offer and need it
matches, in one transaction (ADR 20).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from tris.application.agreements import Agreements
from tris.application.errors import VersionMismatchError
from tris.application.store import CommandContext, EventStore, Outcome
from tris.domain.agreement import Agreement
from tris.domain.errors import (
    AgreementNotFoundError,
    DealPartyError,
    InvalidContentError,
    NotABrokerError,
    NotANotaryError,
    PartyDeactivatedError,
    PartyNotFoundError,
    PostingNotFoundError,
)
from tris.domain.market.deal import Origin
from tris.domain.market.market import Market, MarketPlan
from tris.domain.market.posting import Posting, PostingDraft, PostingSide
from tris.domain.signing import decode_base64
from tris.domain.values import CommitmentDraft, ContentDraft, Terms

CommandResult = tuple[list[Aggregate], dict[str, Any]]


@dataclass(frozen=True)
class DealRequest:
    """A deal as a broker or participant writes it: the offer and need it matches, and the
    agreement's content; what is left out starts from the offer's and need's text."""

    title: str
    offer_id: str | None = None
    need_id: str | None = None
    purpose: str | None = None
    parties: tuple[str, ...] | None = None
    terms: Terms | None = None
    commitments: tuple[CommitmentDraft, ...] | None = None
    publication: str | None = None


def market_view(market: Market) -> dict[str, Any]:
    """A market as the v1 contract names its fields."""
    plan = market.plan
    return {
        "id": market.market_id,
        "title": plan.title,
        "format": plan.format.value,
        "status": market.status.value,
        "version": market.version,
        "region": plan.region,
        "venue": plan.venue,
        "starts_at": plan.starts_at.isoformat(),
        "ends_at": plan.ends_at.isoformat(),
        "organisers": list(plan.organisers),
        "brokers": list(plan.brokers),
        "notaries": list(plan.notaries),
        "participants": list(market.participants),
        "cancellation_reason": market.cancellation_reason,
        "created_at": market.created_on.isoformat(),
        "updated_at": market.modified_on.isoformat(),
    }


def posting_view(posting: Posting) -> dict[str, Any]:
    """An offer or a need."""
    return {
        "id": posting.posting_id,
        "market_id": posting.market_id,
        "side": posting.side.value,
        "party_id": posting.party_id,
        "kind": posting.kind.value,
        "quantity": str(posting.quantity),
        "unit": posting.unit,
        "description": posting.description,
        "corner": posting.corner,
        "status": posting.status.value,
        "deal_id": posting.deal_id,
        "agreement_id": posting.agreement_id,
        "version": posting.version,
    }


class Markets:
    """Everything operators, organisers, participants, brokers and notaries do at markets."""

    def __init__(
        self, store: EventStore, agreements: Agreements, today: Callable[[], date] = date.today
    ) -> None:
        self.store = store
        self.agreements = agreements
        self.today = today

    # --------------------------------------------------------------- the market

    def schedule(self, ctx: CommandContext, plan: MarketPlan) -> Outcome:
        """Schedule a market (an operator); organisers, brokers and notaries must be
        registered, active parties."""

        def command() -> CommandResult:
            for party_id in {*plan.organisers, *plan.brokers, *plan.notaries}:
                self._require_registered(party_id)
            market = Market.schedule(market_id=uuid.uuid4(), actor=ctx.actor, plan=plan)
            return [market], market_view(market)

        return self.store.execute(ctx, command, status=201)

    def admit(self, ctx: CommandContext, market_id: str, party_id: str) -> Outcome:
        """Admit a registered, active party as a participant (an organiser)."""

        def apply(market: Market) -> None:
            market.admit(ctx.actor, party_id)
            self._require_registered(party_id)

        return self._change(ctx, market_id, apply)

    def open(self, ctx: CommandContext, market_id: str) -> Outcome:
        """Open trading."""
        return self._change(ctx, market_id, lambda m: m.open(ctx.actor))

    def close(self, ctx: CommandContext, market_id: str) -> Outcome:
        """Close trading."""
        return self._change(ctx, market_id, lambda m: m.close(ctx.actor))

    def cancel(self, ctx: CommandContext, market_id: str, reason: str) -> Outcome:
        """Cancel a planned or open market."""
        return self._change(ctx, market_id, lambda m: m.cancel(ctx.actor, reason))

    def get(self, market_id: str) -> dict[str, Any]:
        """The market's view (any token, and the public)."""
        return market_view(self.store.market(market_id))

    # -------------------------------------------------------- offers and needs

    def post(
        self, ctx: CommandContext, market_id: str, side: PostingSide, draft: PostingDraft
    ) -> Outcome:
        """Post an offer or need for the actor's own party; never writes the market."""

        def command() -> CommandResult:
            market = self.store.market(market_id)
            posting = Posting.post(
                posting_id=uuid.uuid4(), actor=ctx.actor, market=market, side=side, draft=draft
            )
            self.agreements.require_active(ctx.actor.party_id)
            return [posting], posting_view(posting)

        return self.store.execute(ctx, command, status=201)

    def posting(self, market_id: str, side: PostingSide, posting_id: str) -> dict[str, Any]:
        """One offer or need of this market."""
        return posting_view(self._posting(market_id, side, posting_id))

    def withdraw(
        self, ctx: CommandContext, market_id: str, side: PostingSide, posting_id: str, reason: str
    ) -> Outcome:
        """Withdraw an open offer or need (its participant; If-Match: its version)."""

        def command() -> CommandResult:
            posting = self._posting(market_id, side, posting_id)
            _expect(ctx, posting.version, f"the {side.value} {posting_id}")
            posting.withdraw(ctx.actor, reason)
            return [posting], posting_view(posting)

        return self.store.execute(ctx, command)

    # ------------------------------------------------------------------ deals

    def make_deal(self, ctx: CommandContext, market_id: str, request: DealRequest) -> Outcome:
        """Make a deal: propose its agreement and match its offer and need, atomically."""

        def command() -> CommandResult:
            market = self.store.market(market_id)
            market.require_trading()
            offer = self._maybe_posting(market_id, PostingSide.OFFER, request.offer_id)
            need = self._maybe_posting(market_id, PostingSide.NEED, request.need_id)
            for posting in (offer, need):
                if posting is not None:
                    posting.require_open("matched")
            draft = self._draft(market, request, offer, need)
            actor = ctx.actor.party_id
            broker = actor if market.is_broker(actor) else None
            if broker is None and not (market.is_participant(actor) and actor in draft.parties):
                raise NotABrokerError(
                    "a deal is made by a broker of the market, or by a participant that is "
                    "one of its parties"
                )
            self.agreements.require_active(actor)
            for party_id in draft.parties:
                if not (market.is_participant(party_id) or market.is_organiser(party_id)):
                    raise DealPartyError(
                        f"party {party_id} neither takes part in nor organises this market"
                    )
            for posting in (offer, need):
                if posting is not None and posting.party_id not in draft.parties:
                    raise DealPartyError(
                        f"the {posting.side.value}'s party {posting.party_id} must be a party "
                        "of the deal"
                    )
            deal_id = str(uuid.uuid4())
            agreement_id = uuid.uuid4()
            origin = Origin(
                market_id=market.market_id,
                deal_id=deal_id,
                broker=broker,
                offer_id=offer.posting_id if offer else None,
                need_id=need.posting_id if need else None,
            )
            agreement = Agreement.propose_at_market(
                agreement_id=agreement_id,
                actor=ctx.actor,
                draft=draft,
                party_sectors=self.agreements.sectors(draft.parties),
                origin=origin,
            )
            self.agreements.bounded(agreement)
            matched = [p for p in (offer, need) if p is not None]
            for posting in matched:
                posting.match(ctx.actor, deal_id, str(agreement_id))
            body = {
                "id": deal_id,
                "agreement_id": str(agreement_id),
                "market_id": market.market_id,
                "offer_id": origin.offer_id,
                "need_id": origin.need_id,
                "broker": broker,
                "agreement": self.agreements.view(agreement),
            }
            return [agreement, *matched], body

        return self.store.execute(ctx, command, status=201)

    def _draft(
        self,
        market: Market,
        request: DealRequest,
        offer: Posting | None,
        need: Posting | None,
    ) -> ContentDraft:
        """The deal's content: what the request gives, the rest from the offer and need."""
        parties = request.parties
        if parties is None:
            parties = tuple(dict.fromkeys(p.party_id for p in (offer, need) if p is not None))
        purpose = request.purpose
        if purpose is None:
            lines = [
                f"{label} ({p.kind.value}, {p.quantity} {p.unit}): {p.description}"
                for label, p in (("Angebot", offer), ("Bedarf", need))
                if p is not None
            ]
            if not lines:
                raise InvalidContentError("a deal without offer and need needs a purpose")
            purpose = "\n".join(lines)
        terms = request.terms or Terms(
            text=f"Vereinbart bei „{market.plan.title}“ am {self.today().isoformat()}."
        )
        commitments = request.commitments
        if commitments is None:
            source = offer or need
            if source is None:
                raise InvalidContentError("a deal without offer and need needs commitments")
            if offer is not None:
                debtor = offer.party_id
                beneficiary = need.party_id if need is not None else None
            else:
                assert need is not None
                others = [p for p in parties if p != need.party_id]
                if not others:
                    raise InvalidContentError("a deal for a need names who meets it")
                debtor, beneficiary = others[0], need.party_id
            if beneficiary == debtor:
                beneficiary = None
            commitments = (
                CommitmentDraft(
                    debtor=debtor,
                    beneficiary=beneficiary,
                    kind=source.kind,
                    quantity=source.quantity,
                    unit=source.unit,
                    description=source.description,
                ),
            )
        return ContentDraft(
            title=request.title,
            purpose=purpose,
            parties=parties,
            terms=terms,
            commitments=commitments,
            publication=request.publication,
        )

    # ------------------------------------------------------------ notarisation

    def notarise(
        self, ctx: CommandContext, agreement_id: str, key_id: str, signature: str
    ) -> Outcome:
        """A notary of the agreement's market countersigns its revision in force."""
        raw = decode_base64(signature, what="signature")

        def command() -> CommandResult:
            agreement = self.store.agreement(agreement_id)
            actor = ctx.actor.party_id
            market = self._origin_market(agreement)
            if market is None or not market.runs_with(actor):
                if not agreement.is_party(actor):
                    raise AgreementNotFoundError(f"no agreement {agreement_id} of this party")
                raise NotANotaryError(
                    f"party {actor} is not a notary of the market this agreement comes from"
                )
            _expect(ctx, agreement.version, f"agreement {agreement_id}")
            key = self.store.party(actor).key_for_signing(key_id, signer=actor)
            agreement.notarise(ctx.actor, key, raw, market.plan.notaries)
            return [agreement], self.agreements.view(agreement)

        return self.store.execute(ctx, command)

    # ----------------------------------------------------------------- helpers

    def _origin_market(self, agreement: Agreement) -> Market | None:
        if agreement.origin is None:
            return None
        return self.store.market(agreement.origin.market_id)

    def _change(
        self, ctx: CommandContext, market_id: str, apply: Callable[[Market], object]
    ) -> Outcome:
        def command() -> CommandResult:
            market = self.store.market(market_id)
            _expect(ctx, market.version, f"market {market_id}")
            apply(market)
            return [market], market_view(market)

        return self.store.execute(ctx, command)

    def _posting(self, market_id: str, side: PostingSide, posting_id: str) -> Posting:
        posting = self.store.posting(posting_id, side.value)
        if posting.market_id != market_id or posting.side is not side:
            raise PostingNotFoundError(f"market {market_id} has no {side.value} {posting_id}")
        return posting

    def _maybe_posting(
        self, market_id: str, side: PostingSide, posting_id: str | None
    ) -> Posting | None:
        return None if posting_id is None else self._posting(market_id, side, posting_id)

    def _require_registered(self, party_id: str) -> None:
        try:
            party = self.store.party(party_id)
        except PartyNotFoundError:
            raise InvalidContentError(f"party {party_id} is not registered") from None
        if not party.active:
            raise PartyDeactivatedError(f"party {party_id} is deactivated")


def _expect(ctx: CommandContext, version: int, what: str) -> None:
    if ctx.expected_version is not None and ctx.expected_version != version:
        raise VersionMismatchError(
            f"{what} is at version {version}, not {ctx.expected_version}; reload it and retry"
        )
