"""A market driven through the v1 API: its cast, and the steps every market test takes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from tests.support.http import Api, Partner, if_match
from tests.support.scenario import World
from tris.application.markets import DealRequest
from tris.domain.market.market import MarketFormat, MarketPlan
from tris.domain.market.posting import PostingDraft, PostingSide
from tris.domain.values import Sector

STARTS_AT = "2026-06-01T16:00:00+02:00"
ENDS_AT = "2026-06-01T18:00:00+02:00"


@dataclass
class Bazaar:
    """A Marktplatz: the district office organises, a volunteer agency brokers, the chamber
    notarises; a company and an association take part, and a stranger does not."""

    api: Api
    organiser: Partner
    broker: Partner
    notary: Partner
    company: Partner
    association: Partner
    stranger: Partner
    market_id: str = ""

    @classmethod
    def of(cls, api: Api) -> Bazaar:
        """Register the cast (each with a partner token and a signing key)."""
        return cls(
            api,
            organiser=api.partner("Bezirksamt Neukölln", "state", region="Berlin-Neukölln"),
            broker=api.partner("Freiwilligenagentur Neukölln", "civil_society"),
            notary=api.partner("IHK Berlin", "business"),
            company=api.partner("Malerbetrieb Schulz GmbH", "business"),
            association=api.partner("Kinderzirkus Cabuwazi e.V.", "civil_society"),
            stranger=api.partner("Stiftung Anderswo", "civil_society"),
        )

    @property
    def path(self) -> str:
        """The market's path."""
        return f"/v1/markets/{self.market_id}"

    def schedule(self, **overrides: Any) -> httpx.Response:
        """Schedule the market as admin; remember its id."""
        body = {
            "title": "Marktplatz Neukölln 2026",
            "format": "marketplace",
            "region": "Berlin-Neukölln",
            "venue": "Rathaus Neukölln, BVV-Saal",
            "starts_at": STARTS_AT,
            "ends_at": ENDS_AT,
            "organisers": [self.organiser.party_id],
            "brokers": [self.broker.party_id],
            "notaries": [self.notary.party_id],
            **overrides,
        }
        response = self.api.client.post("/v1/markets", json=body, headers=self.api.admin)
        if response.status_code == 201:
            self.market_id = response.json()["id"]
        return response

    def etag(self) -> str:
        """The market's current ETag."""
        response = self.api.client.get(self.path, headers=self.api.admin)
        assert response.status_code == 200, response.text
        return if_match(response)

    def change(self, who: Partner, tail: str, json: dict[str, Any] | None = None) -> httpx.Response:
        """An organiser's change of the market, with its current ETag as If-Match."""
        return self.api.client.post(
            f"{self.path}/{tail}", json=json, headers=who.headers(**{"If-Match": self.etag()})
        )

    def admit(self, *partners: Partner) -> None:
        """Admit participants (as the organiser)."""
        for partner in partners:
            response = self.change(self.organiser, "participants", {"party_id": partner.party_id})
            assert response.status_code == 200, response.text

    def open(self) -> None:
        """Schedule, admit the company and the association, and open trading."""
        assert self.schedule().status_code == 201
        self.admit(self.company, self.association)
        response = self.change(self.organiser, "opening")
        assert response.status_code == 200, response.text

    def post(
        self,
        who: Partner,
        side: str,
        *,
        kind: str = "time",
        quantity: str = "8",
        unit: str = "hours",
        description: str = "Zwei Malergesellen streichen einen Tag lang",
        **extra: Any,
    ) -> httpx.Response:
        """Post an offer (`side` "offers") or a need ("needs")."""
        body = {"kind": kind, "quantity": quantity, "unit": unit, "description": description}
        return self.api.client.post(
            f"{self.path}/{side}", json={**body, **extra}, headers=who.headers()
        )

    def posted(self, who: Partner, side: str, **fields: Any) -> str:
        """Post and return the new offer's or need's id."""
        response = self.post(who, side, **fields)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def deal(self, who: Partner, **body: Any) -> httpx.Response:
        """Make a deal."""
        body.setdefault("title", "Neuer Anstrich für das Zirkuszelt")
        return self.api.client.post(f"{self.path}/deals", json=body, headers=who.headers())

    def brokered(self) -> dict[str, Any]:
        """An offer of the company and a need of the association, matched by the broker."""
        offer = self.posted(self.company, "offers")
        need = self.posted(
            self.association, "needs", description="Das Winterquartier braucht neue Farbe"
        )
        response = self.deal(self.broker, offer_id=offer, need_id=need)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def conclude(self, agreement_id: str) -> dict[str, Any]:
        """Both parties sign revision 1."""
        return self.api.conclude(agreement_id, 1, self.company, self.association)

    def notarise(self, agreement_id: str, notary: Partner | None = None) -> httpx.Response:
        """The notary countersigns the revision in force."""
        notary = notary or self.notary
        view = self.api.read(self.api.admin, agreement_id).json()
        revision = view["in_force_revision"] or view["revision"]
        payload = self.api.client.get(
            f"/v1/agreements/{agreement_id}/revisions/{revision}/signing-payload",
            headers=self.api.admin,
        ).content
        return self.api.client.post(
            f"/v1/agreements/{agreement_id}/notarisation",
            json={"key_id": notary.key_id, "signature": notary.sign(payload)},
            headers=notary.headers(**{"If-Match": self.api.current_etag(agreement_id)}),
        )

    def stats(self, position: str | None = None) -> dict[str, Any]:
        """The market's stats (after `position` when given)."""
        params = {"min_position": position} if position else {}
        response = self.api.client.get(f"{self.path}/stats", params=params, headers=self.api.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())


def stats_from_events(items: list[dict[str, Any]], market_id: str) -> dict[str, Any]:
    """A market's stats recomputed from the open event stream alone (no read model): what an
    outside researcher would count."""
    sides = {"offer": 0, "need": 0}
    deals: dict[str, dict[str, Any]] = {}
    revisions: dict[tuple[str, int], list[dict[str, Any]]] = {}
    confirmed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    recorded: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for item in items:
        data, kind, aggregate_id = item["data"], item["type"], item["aggregate_id"]
        if item["aggregate_type"] == "Posting" and kind == "Posted":
            if data["market_id"] == market_id:
                sides[data["side"]] += 1
            continue
        if item["aggregate_type"] != "Agreement":
            continue
        if kind == "ProposedAtMarket" and data["origin"]["market_id"] == market_id:
            deals[aggregate_id] = {"status": "proposed", "concluded": False, "notarised": False}
        if kind in ("Proposed", "ProposedAtMarket"):
            revisions[(aggregate_id, 1)] = data["content"]["commitments"]
        elif kind in ("Revised", "AmendmentProposed"):
            revisions[(aggregate_id, data["revision"])] = data["content"]["commitments"]
        deal = deals.get(aggregate_id)
        if deal is None:
            continue
        if kind in ("Concluded", "AmendmentAdopted"):
            deal["in_force"] = revisions[(aggregate_id, data["revision"])]
        if kind == "Concluded":
            deal.update(status="in_force", concluded=True)
        elif kind in ("Completed", "Terminated", "Withdrawn"):
            deal["status"] = kind.lower()
        elif kind == "Notarised":
            deal["notarised"] = True
        elif kind == "FulfilmentRecorded":
            recorded[(aggregate_id, data["fulfilment_id"])] = (
                data["commitment_id"],
                Decimal(data["quantity"]),
            )
        elif kind == "FulfilmentConfirmed":
            commitment_id, quantity = recorded[(aggregate_id, data["fulfilment_id"])]
            confirmed[(aggregate_id, commitment_id)] += quantity
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for agreement_id, deal in deals.items():
        for commitment in deal.get("in_force", []):
            pair = sums[(commitment["kind"], commitment["unit"])]
            quantity = Decimal(commitment["quantity"])
            pair[0] += quantity
            pair[1] += min(quantity, confirmed[(agreement_id, commitment["id"])])
    concluded = sum(1 for d in deals.values() if d["concluded"])
    completed = sum(1 for d in deals.values() if d["status"] == "completed")
    return {
        "offers": sides["offer"],
        "needs": sides["need"],
        "deals": len(deals),
        "concluded": concluded,
        "notarised": sum(1 for d in deals.values() if d["notarised"]),
        "completed": completed,
        "fulfilment_rate": (
            str((Decimal(completed) / Decimal(concluded)).quantize(Decimal("0.0001")))
            if concluded
            else None
        ),
        "commitments": [
            {"kind": k, "unit": u, "committed": _plain(c), "fulfilled": _plain(f)}
            for (k, u), (c, f) in sorted(sums.items())
        ],
    }


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def all_events(api: Api) -> list[dict[str, Any]]:
    """Every event of the open stream, read page by page as an auditor."""
    auditor = {"Authorization": f"Bearer {api.issue_token('auditor')}"}
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = api.client.get("/v1/events", params={"after": after}, headers=auditor).json()
        items += page["items"]
        if not page["items"]:
            return items
        after = page["next_after"]


def market_story(world: World) -> str:
    """A closed market of the world's first three members' kind: an offer and a need matched
    by a broker's deal, signed, notarised and delivered; a withdrawn need; its id."""
    services = world.services
    organiser = world.add("Bezirksamt Neukölln", Sector.STATE, region="Berlin-Neukölln")
    broker = world.add("Freiwilligenagentur Neukölln", Sector.CIVIL_SOCIETY)
    notary = world.add("IHK Berlin", Sector.BUSINESS)
    company = world.add("Malerbetrieb Yilmaz GmbH", Sector.BUSINESS)
    circus = world.add("Kinderzirkus Rixdorf e.V.", Sector.CIVIL_SOCIETY)
    plan = MarketPlan(
        title="Marktplatz Neukölln",
        format=MarketFormat.MARKETPLACE,
        region="Berlin-Neukölln",
        venue="Rathaus Neukölln",
        starts_at=datetime(2026, 5, 20, 14, tzinfo=UTC),
        ends_at=datetime(2026, 5, 20, 16, tzinfo=UTC),
        organisers=(organiser.party_id,),
        brokers=(broker.party_id,),
        notaries=(notary.party_id,),
    )
    markets = services.markets
    market_id: str = markets.schedule(world.admin_ctx(), plan).body["id"]
    for member in (company, circus):
        markets.admit(organiser.ctx(), market_id, member.party_id)
    offer = markets.post(
        company.ctx(), market_id, PostingSide.OFFER,
        PostingDraft("time", "16", "hours", "Zwei Tage streichen", "Hands-on"),
    ).body["id"]  # fmt: skip
    need = markets.post(
        circus.ctx(), market_id, PostingSide.NEED,
        PostingDraft("time", "16", "hours", "Das Winterquartier streichen", None),
    ).body["id"]  # fmt: skip
    spare = markets.post(
        circus.ctx(), market_id, PostingSide.NEED,
        PostingDraft("logistics", "1", "days", "Ein Transporter", None),
    ).body["id"]  # fmt: skip
    markets.withdraw(circus.ctx(), market_id, PostingSide.NEED, spare, "Schon gefunden")
    markets.open(organiser.ctx(), market_id)
    deal = DealRequest(title="Neuer Anstrich", offer_id=offer, need_id=need)
    agreement_id = markets.make_deal(broker.ctx(), market_id, deal).body["agreement_id"]
    for member in (company, circus):
        world.sign(member, agreement_id, 1)
    payload = services.agreements.signing_payload(world.admin, agreement_id, 1)
    markets.notarise(notary.ctx(), agreement_id, notary.key_id, notary.signature(payload))
    markets.close(organiser.ctx(), market_id)
    recorded = services.agreements.record_fulfilment(
        company.ctx(), agreement_id, "C1", "16", datetime(2026, 6, 1).date(), "Gestrichen"
    ).body
    services.agreements.confirm_fulfilment(circus.ctx(), agreement_id, recorded["id"])
    return market_id
