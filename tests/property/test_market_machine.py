"""Random market sessions never break a market's rules, and its events replay exactly.

A hypothesis state machine drives one Market, its offers and needs and the agreements of
its deals (domain only) with random actors — organisers, brokers, participants, strangers —
and random posting, matching, deals, withdrawals, lifecycle steps and attempts to trade
money. A naive model predicts every answer: the command is accepted, or it raises exactly
the expected DomainError subclass. After every step the invariants hold: an offer or need
is matched by one deal at most, no agreement born at the market commits money, and the
stored events rebuild every aggregate.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eventsourcing.persistence import Mapper
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.property.states import exact, state_of
from tris.domain.agreement import Agreement
from tris.domain.errors import (
    AlreadyParticipantError,
    DomainError,
    MarketNotOpenError,
    MarketStatusError,
    MoneyAtMarketError,
    NotAnOrganiserError,
    NotAParticipantError,
    PostingNotOpenError,
)
from tris.domain.market.deal import Origin
from tris.domain.market.market import Market, MarketFormat, MarketPlan
from tris.domain.market.money import is_currency
from tris.domain.market.posting import Posting, PostingDraft, PostingSide, PostingStatus
from tris.domain.values import OPERATOR, Actor, CommitmentDraft, ContentDraft, Sector, Terms
from tris.storage.eventlog import TrisApplication

ORGANISER, BROKER = "organiser", "broker"
PEOPLE = ("anna", "bert", "cem", "dora")
STRANGER = "stranger"
EVERYONE = (ORGANISER, BROKER, *PEOPLE, STRANGER)
# Who tries what, weighted towards those who may (others still try, and are refused).
RUNNERS = (ORGANISER,) * 5 + (BROKER, "anna", STRANGER)
POSTERS = PEOPLE * 3 + (ORGANISER, BROKER, STRANGER)
STEPS = ("open",) * 6 + ("close", "cancel")
KINDS = ("time", "expertise", "logistics", "in_kind", "space", "other") * 2 + ("funding",)
UNITS = ("hours", "days", "items", "cup") * 3 + ("EUR", "Euro", "€")


@functools.cache
def event_mapper() -> Mapper[uuid.UUID]:
    """The application's own mapper (its transcodings), built once, in memory."""
    return TrisApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def actor(name: str) -> Actor:
    """Each name acts as its own party, through one token."""
    return Actor(name, f"token-{name}")


@dataclass
class Model:
    """What the rules say, written plainly."""

    status: str = "planned"
    participants: set[str] = field(default_factory=set)
    postings: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # party, side, status

    def money(self, kind: str, unit: str) -> bool:
        return kind == "funding" or is_currency(unit)


class MarketMachine(RuleBasedStateMachine):
    """One market and everything traded at it."""

    def __init__(self) -> None:
        super().__init__()
        plan = MarketPlan(
            title="Marktplatz",
            format=MarketFormat.MARKETPLACE,
            region="Berlin-Neukölln",
            venue=None,
            starts_at=datetime(2026, 6, 1, 14, tzinfo=UTC),
            ends_at=datetime(2026, 6, 1, 16, tzinfo=UTC),
            organisers=(ORGANISER,),
            brokers=(BROKER,),
            notaries=(),
        )
        self.market = Market.schedule(
            market_id=uuid.uuid4(), actor=Actor(OPERATOR, "admin"), plan=plan
        )
        self.model = Model()
        self.postings: dict[str, Posting] = {}
        self.deals: list[Agreement] = []
        self.events: dict[uuid.UUID, list[object]] = {}
        self._collect(self.market)

    def _collect(self, aggregate: Market | Posting | Agreement) -> None:
        for stored in aggregate.collect_events():
            self.events.setdefault(aggregate.id, []).append(
                event_mapper().to_stored_event(stored)  # type: ignore[arg-type]
            )

    def _expect(self, error: type[DomainError] | None, command: object) -> object:
        event(f"{getattr(command, '__qualname__', 'command').split('.')[1]}: "
              f"{'accepted' if error is None else error.__name__}")  # fmt: skip
        if error is None:
            return command() if callable(command) else None
        try:
            command() if callable(command) else None
        except DomainError as raised:
            assert isinstance(raised, error), (raised, error)
            return None
        raise AssertionError(f"expected {error.__name__}")

    # ------------------------------------------------------------------ rules

    @initialize(people=st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=4, unique=True))
    def admit_some(self, people: list[str]) -> None:
        for party in people:
            self.admit(ORGANISER, party)

    @rule(who=st.sampled_from(RUNNERS), party=st.sampled_from((*PEOPLE, STRANGER)))
    def admit(self, who: str, party: str) -> None:
        error: type[DomainError] | None = None
        if who != ORGANISER:
            error = NotAnOrganiserError
        elif self.model.status not in ("planned", "open"):
            error = MarketStatusError
        elif party in self.model.participants:
            error = AlreadyParticipantError
        self._expect(error, lambda: self.market.admit(actor(who), party))
        if error is None:
            self.model.participants.add(party)
        self._collect(self.market)

    @rule(who=st.sampled_from(RUNNERS), step=st.sampled_from(STEPS))
    def lifecycle(self, who: str, step: str) -> None:
        allowed = {"open": ("planned",), "close": ("open",), "cancel": ("planned", "open")}
        error: type[DomainError] | None = None
        if who != ORGANISER:
            error = NotAnOrganiserError
        elif self.model.status not in allowed[step]:
            error = MarketStatusError
        commands = {
            "open": lambda: self.market.open(actor(who)),
            "close": lambda: self.market.close(actor(who)),
            "cancel": lambda: self.market.cancel(actor(who), "Sturm"),
        }
        self._expect(error, commands[step])
        if error is None:
            self.model.status = {"open": "open", "close": "closed", "cancel": "cancelled"}[step]
        self._collect(self.market)

    @rule(
        who=st.sampled_from(POSTERS),
        side=st.sampled_from(PostingSide),
        kind=st.sampled_from(KINDS),
        unit=st.sampled_from(UNITS),
    )
    def post(self, who: str, side: PostingSide, kind: str, unit: str) -> None:
        error: type[DomainError] | None = None
        if who not in self.model.participants:
            error = NotAParticipantError
        elif self.model.status not in ("planned", "open"):
            error = MarketStatusError
        elif self.model.money(kind, unit):
            error = MoneyAtMarketError
        posted: list[Posting] = []

        def command() -> None:
            posted.append(
                Posting.post(
                    posting_id=uuid.uuid4(),
                    actor=actor(who),
                    market=self.market,
                    side=side,
                    draft=PostingDraft(kind, "3", unit, f"{kind} von {who}"),
                )
            )

        self._expect(error, command)
        if posted:
            posting = posted[0]
            self.postings[posting.posting_id] = posting
            self.model.postings[posting.posting_id] = (who, side.value, "open")
            self._collect(posting)

    @rule(data=st.data(), who=st.sampled_from(POSTERS))
    def withdraw(self, data: st.DataObject, who: str) -> None:
        if not self.postings:
            return
        posting_id = data.draw(st.sampled_from(sorted(self.postings)))
        party, side, status = self.model.postings[posting_id]
        error: type[DomainError] | None = None
        if who != party:
            error = NotAParticipantError
        elif status != "open":
            error = PostingNotOpenError
        posting = self.postings[posting_id]
        self._expect(error, lambda: posting.withdraw(actor(who), ""))
        if error is None:
            self.model.postings[posting_id] = (party, side, "withdrawn")
        self._collect(posting)

    @rule(
        data=st.data(),
        by_broker=st.booleans(),
        kind=st.sampled_from(KINDS),
        unit=st.sampled_from(UNITS),
    )
    def deal(self, data: st.DataObject, by_broker: bool, kind: str, unit: str) -> None:
        offers = sorted(p for p, (_, s, _) in self.model.postings.items() if s == "offer")
        needs = sorted(p for p, (_, s, _) in self.model.postings.items() if s == "need")
        if not offers or not needs:
            return
        offer_id, need_id = data.draw(st.sampled_from(offers)), data.draw(st.sampled_from(needs))
        offerer, _, offer_status = self.model.postings[offer_id]
        needer, _, need_status = self.model.postings[need_id]
        if offerer == needer:
            return
        who = BROKER if by_broker else offerer
        error: type[DomainError] | None = None
        if self.model.status != "open":
            error = MarketNotOpenError
        elif offer_status != "open" or need_status != "open":
            error = PostingNotOpenError
        elif self.model.money(kind, unit):
            error = MoneyAtMarketError
        made: list[Agreement] = []
        offer, need = self.postings[offer_id], self.postings[need_id]

        def command() -> None:
            # What the use case does, in the same order: check, propose, match.
            self.market.require_trading()
            offer.require_open("matched")
            need.require_open("matched")
            deal_id = str(uuid.uuid4())
            draft = ContentDraft(
                title="Deal",
                purpose=f"{offer.description} für {need.description}",
                parties=(offerer, needer),
                terms=Terms("Ohne Geld"),
                commitments=(CommitmentDraft(offerer, needer, kind, "3", unit, "Leistung"),),
            )
            origin = Origin(
                self.market.market_id, deal_id, who if who == BROKER else None, offer_id, need_id
            )
            agreement = Agreement.propose_at_market(
                agreement_id=uuid.uuid4(),
                actor=actor(who),
                draft=draft,
                party_sectors={offerer: Sector.BUSINESS, needer: Sector.CIVIL_SOCIETY},
                origin=origin,
            )
            offer.match(actor(who), deal_id, agreement.agreement_id)
            need.match(actor(who), deal_id, agreement.agreement_id)
            made.append(agreement)

        self._expect(error, command)
        if made:
            self.deals.append(made[0])
            self.model.postings[offer_id] = (offerer, "offer", "matched")
            self.model.postings[need_id] = (needer, "need", "matched")
            for aggregate in (made[0], offer, need):
                self._collect(aggregate)

    # ------------------------------------------------------------- invariants

    @invariant()
    def the_model_and_the_aggregates_agree(self) -> None:
        assert self.market.status.value == self.model.status
        assert set(self.market.participants) == self.model.participants
        for posting_id, (party, side, status) in self.model.postings.items():
            posting = self.postings[posting_id]
            assert (posting.party_id, posting.side.value, posting.status.value) == (
                party,
                side,
                status,
            )

    @invariant()
    def each_offer_and_need_is_matched_by_one_deal_at_most(self) -> None:
        matched = [p for p in self.postings.values() if p.status is PostingStatus.MATCHED]
        by_deals = [
            posting_id
            for deal in self.deals
            for posting_id in (deal.origin.offer_id, deal.origin.need_id)  # type: ignore[union-attr]
        ]
        assert sorted(by_deals) == sorted(p.posting_id for p in matched)
        assert len(set(by_deals)) == len(by_deals)

    @invariant()
    def no_agreement_made_here_commits_money(self) -> None:
        for deal in self.deals:
            for commitment in deal.latest.content.commitments:
                assert commitment.kind.value != "funding" and not is_currency(commitment.unit)

    @invariant()
    def the_stored_events_rebuild_every_aggregate(self) -> None:
        aggregates = [self.market, *self.postings.values(), *self.deals]
        for aggregate in aggregates:
            rebuilt = None
            for stored in self.events[aggregate.id]:
                rebuilt = event_mapper().to_domain_event(stored).mutate(rebuilt)  # type: ignore[arg-type]
            assert rebuilt is not None
            assert exact(state_of(rebuilt)) == exact(state_of(aggregate))


MarketMachine.TestCase.settings = settings(
    max_examples=200,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestMarketMachine = MarketMachine.TestCase
