"""The market's rules, enforced in the domain: roles, lifecycle, postings, deals, money,
notarisation."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import pytest

from tris.domain.agreement import Agreement
from tris.domain.errors import (
    AgreementNotInForceError,
    AlreadyNotarisedError,
    AlreadyParticipantError,
    InvalidMarketError,
    InvalidSignatureError,
    MarketNotOpenError,
    MarketStatusError,
    MoneyAtMarketError,
    NotAnOrganiserError,
    NotANotaryError,
    NotAParticipantError,
    PostingNotOpenError,
    ProposerNotAPartyError,
)
from tris.domain.market.market import Market, MarketStatus
from tris.domain.market.money import is_currency
from tris.domain.market.posting import Posting, PostingDraft, PostingSide, PostingStatus
from tris.domain.values import OPERATOR, Actor, Sector

OPERATOR_ACTOR = Actor(OPERATOR, "token-admin")


@pytest.fixture
def broker(world) -> object:
    """A volunteer agency that brokers deals."""
    return world.org("Freiwilligenagentur", Sector.CIVIL_SOCIETY)


@pytest.fixture
def notary(world) -> object:
    """The chamber of commerce, countersigning deals."""
    return world.org("IHK Berlin", Sector.BUSINESS)


@pytest.fixture
def market(world, state, broker, notary, business, civil):
    """An open market organised by the district office; the bakery and association take part."""
    return world.market(state, broker, notary, business, civil)


def test_a_market_runs_from_planned_to_open_to_closed(world, state, broker, notary) -> None:
    market = Market.schedule(
        market_id=uuid.uuid4(), actor=OPERATOR_ACTOR, plan=world.plan(state, broker, notary)
    )
    assert market.status is MarketStatus.PLANNED
    market.open(state.actor)
    assert market.status is MarketStatus.OPEN
    market.close(state.actor)
    assert market.status is MarketStatus.CLOSED
    with pytest.raises(MarketStatusError):
        market.open(state.actor)
    with pytest.raises(MarketStatusError):
        market.cancel(state.actor, "zu spät")


def test_only_organisers_run_the_market(market: Market, broker, civil) -> None:
    for action in (lambda: market.close(broker.actor), lambda: market.admit(civil.actor, "x")):
        with pytest.raises(NotAnOrganiserError):
            action()
    assert market.status is MarketStatus.OPEN


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ends_at": datetime(2026, 6, 1, 13)}, "time zone"),
        ({"title": " "}, "title"),
        ({"organisers": ()}, "organiser"),
        ({"brokers": ("a", "a")}, "twice"),
        ({"venue": "Saal\x00"}, r"U\+0000"),
    ],
)
def test_a_plan_breaking_a_rule_is_refused(world, state, broker, notary, overrides, message):
    plan = world.plan(state, broker, notary, **overrides)
    with pytest.raises(Exception, match=message):
        Market.schedule(market_id=uuid.uuid4(), actor=OPERATOR_ACTOR, plan=plan)


def test_a_market_ends_after_it_starts(world, state, broker, notary) -> None:
    plan = world.plan(state, broker, notary)
    with pytest.raises(InvalidMarketError, match="ends after it starts"):
        Market.schedule(
            market_id=uuid.uuid4(),
            actor=OPERATOR_ACTOR,
            plan=replace(plan, ends_at=plan.starts_at),
        )


def test_a_party_is_admitted_once(market: Market, state, civil) -> None:
    with pytest.raises(AlreadyParticipantError):
        market.admit(state.actor, civil.id)


def test_only_participants_post_and_only_for_themselves(world, market, outsider, civil) -> None:
    with pytest.raises(NotAParticipantError):
        world.posting(market, outsider, PostingSide.OFFER)
    offer = world.posting(market, civil, PostingSide.OFFER)
    assert offer.party_id == civil.id


def test_nothing_is_posted_after_the_closing_gong(world, market, state, civil) -> None:
    market.close(state.actor)
    with pytest.raises(MarketStatusError):
        world.posting(market, civil, PostingSide.NEED)


@pytest.mark.parametrize(
    ("kind", "unit"),
    [("funding", "hours"), ("in_kind", "EUR"), ("time", "Euro"), ("other", "€"), ("time", "usd")],
)
def test_money_is_taboo_in_offers_and_needs(world, market, civil, kind, unit) -> None:
    with pytest.raises(MoneyAtMarketError, match="money is taboo"):
        world.posting(market, civil, PostingSide.OFFER, kind=kind, unit=unit)


@pytest.mark.parametrize("unit", ["hours", "days", "items", "cup", "m²", "Paletten"])
def test_units_of_goods_and_time_are_not_money(unit: str) -> None:
    assert not is_currency(unit)


@pytest.mark.parametrize("unit", ["EUR", "CHF", "eur", "EURO", "euros", "$", "Cent", "GBP"])
def test_currencies_are_money(unit: str) -> None:
    assert is_currency(unit)


def test_an_offer_is_matched_at_most_once(world, market, civil, broker) -> None:
    offer = world.posting(market, civil, PostingSide.OFFER)
    offer.match(broker.actor, "deal-1", "agreement-1")
    assert offer.status is PostingStatus.MATCHED
    with pytest.raises(PostingNotOpenError):
        offer.match(broker.actor, "deal-2", "agreement-2")
    assert offer.deal_id == "deal-1"


def test_a_withdrawn_need_cannot_be_matched_and_only_its_party_withdraws(
    world, market, civil, business, broker
) -> None:
    need = world.posting(market, civil, PostingSide.NEED)
    with pytest.raises(NotAParticipantError):
        need.withdraw(business.actor, "")
    need.withdraw(civil.actor, "erledigt")
    with pytest.raises(PostingNotOpenError):
        need.match(broker.actor, "deal-1", "agreement-1")


def test_a_broker_proposes_between_others_and_the_view_knows_the_origin(
    world, market, broker, civil, business
) -> None:
    agreement = world.deal(market, broker, world.draft(civil, business))
    assert agreement.proposer == broker.id
    assert agreement.origin is not None and agreement.origin.market_id == market.market_id
    assert isinstance(agreement.collect_events()[0], Agreement.ProposedAtMarket)


def test_a_participant_that_is_no_party_cannot_propose_a_deal(
    world, market, civil, business, state
) -> None:
    origin = replace(world.deal(market, state, world.draft(civil, business)).origin, broker=None)
    with pytest.raises(ProposerNotAPartyError):
        Agreement.propose_at_market(
            agreement_id=uuid.uuid4(),
            actor=state.actor,
            draft=world.draft(civil, business),
            party_sectors=world.sectors(),
            origin=origin,
        )


def test_money_is_taboo_in_deals_their_revisions_and_amendments(
    world, market, broker, civil, business
) -> None:
    money = world.commitment(civil, business, kind="funding", unit="EUR", quantity="500")
    with pytest.raises(MoneyAtMarketError):
        world.deal(market, broker, world.draft(civil, business, commitments=(money,)))
    agreement = world.deal(market, broker, world.draft(civil, business))
    with pytest.raises(MoneyAtMarketError):
        world.revise(agreement, civil, world.draft(civil, business, commitments=(money,)))
    world.sign_all(agreement)
    with pytest.raises(MoneyAtMarketError):
        world.amend(agreement, civil, world.draft(civil, business, commitments=(money,)))
    # An agreement made elsewhere may still commit funding.
    world.propose(civil, world.draft(civil, business, commitments=(money,)))


def test_a_notary_countersigns_the_revision_in_force_once(
    world, market, broker, notary, civil, business
) -> None:
    agreement = world.deal(market, broker, world.draft(civil, business))
    payload = agreement.payload(1)
    notaries = (notary.id,)
    with pytest.raises(AgreementNotInForceError):
        agreement.notarise(notary.actor, notary.key(), notary.signature(payload), notaries)
    world.sign_all(agreement)
    with pytest.raises(NotANotaryError):
        agreement.notarise(civil.actor, civil.key(), civil.signature(payload), notaries)
    with pytest.raises(InvalidSignatureError):
        agreement.notarise(notary.actor, notary.key(), notary.signature(b"other"), notaries)
    assert agreement.notarise(notary.actor, notary.key(), notary.signature(payload), notaries) == 1
    with pytest.raises(AlreadyNotarisedError):
        agreement.notarise(notary.actor, notary.key(), notary.signature(payload), notaries)
    assert [(n.party_id, n.revision) for n in agreement.notarisations] == [(notary.id, 1)]


def test_an_agreement_made_elsewhere_has_no_notary(world, notary, civil, business) -> None:
    agreement = world.in_force(civil, world.draft(civil, business))
    signature = notary.signature(agreement.payload(1))
    with pytest.raises(NotANotaryError):
        agreement.notarise(notary.actor, notary.key(), signature, (notary.id,))


def test_a_snapshot_from_before_markets_reads_without_origin(world, civil, business) -> None:
    state = {"origin": "ignored"}
    Agreement.upcast_v2_v3(state)
    assert state["origin"] == "ignored"
    older: dict[str, object] = {}
    Agreement.upcast_v2_v3(older)
    assert older == {"origin": None, "notarisations": []}


def test_postings_replay_to_the_same_state(world, market, civil, broker) -> None:
    offer = world.posting(market, civil, PostingSide.OFFER)
    offer.match(broker.actor, "deal-1", "agreement-1")
    events = offer.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Posting)
    assert replayed.status is PostingStatus.MATCHED and replayed.deal_id == "deal-1"
    assert vars(replayed) == vars(offer)


def test_a_posting_draft_names_a_known_kind(world, market, civil) -> None:
    with pytest.raises(Exception, match="kind must be one of"):
        Posting.post(
            posting_id=uuid.uuid4(),
            actor=civil.actor,
            market=market,
            side=PostingSide.OFFER,
            draft=PostingDraft("cash", "1", "hours", "x"),
        )
    with pytest.raises(MarketNotOpenError):
        Market.schedule(
            market_id=uuid.uuid4(),
            actor=OPERATOR_ACTOR,
            plan=market.plan,
        ).require_trading()
