"""A live market on PostgreSQL: a hundred participants post and trade at once, from their
phones, through `tris serve` with two API processes."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.concurrency import run_in_threads
from tests.support.http import Api, bearer
from tests.support.market import STARTS_AT, all_events, stats_from_events
from tests.support.server import served

PARTICIPANTS = 100
POSTINGS = 300  # 150 offers and 150 needs
DEALS = 80
CLIENTS = 16
KINDS = ("time", "expertise", "logistics", "in_kind", "space")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`tris serve --workers 2` on PostgreSQL, as production runs it."""
    with served(database_url, tmp_path, workers=2) as running:
        yield running


class Phones:
    """One HTTP client per thread, as each participant has its own phone."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.local = threading.local()
        self.clients: list[httpx.Client] = []
        self.lock = threading.Lock()

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.base_url, timeout=60)
            self.local.client = client
            with self.lock:
                self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _register(api: Api, name: str, sector: str) -> tuple[str, str]:
    party = api.register_party(name, sector, region="Berlin-Neukölln")
    issued = api.client.post(f"/v1/parties/{party['id']}/tokens", headers=api.admin)
    assert issued.status_code == 201, issued.text
    return party["id"], issued.json()["token"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_hundred_participants_post_and_trade_at_once_without_conflict(
    server: tuple[str, str],
) -> None:
    base_url, admin_token = server
    with httpx.Client(base_url=base_url, timeout=60) as setup:
        api = Api(setup, admin_token)
        organiser = _register(api, "Bezirksamt Neukölln", "state")
        brokers = [_register(api, f"Makler {n}", "civil_society") for n in range(4)]
        notary = _register(api, "IHK Berlin", "business")
        sectors = itertools.cycle(["business", "civil_society"])
        people = [_register(api, f"Teilnehmer {n}", next(sectors)) for n in range(PARTICIPANTS)]
        created = setup.post(
            "/v1/markets",
            json={
                "title": "Marktplatz Neukölln live",
                "format": "marketplace",
                "starts_at": STARTS_AT,
                "ends_at": "2026-06-01T17:30:00+02:00",
                "organisers": [organiser[0]],
                "brokers": [b[0] for b in brokers],
                "notaries": [notary[0]],
            },
            headers=api.admin,
        )
        assert created.status_code == 201, created.text
        market = f"/v1/markets/{created.json()['id']}"
        etag = created.headers["ETag"]
        for party_id, _ in people:
            admitted = setup.post(
                f"{market}/participants",
                json={"party_id": party_id},
                headers=bearer(organiser[1], **{"If-Match": etag}),
            )
            assert admitted.status_code == 200, admitted.text
            etag = admitted.headers["ETag"]
        opened = setup.post(f"{market}/opening", headers=bearer(organiser[1], **{"If-Match": etag}))
        assert opened.status_code == 200, opened.text

    phones = Phones(base_url)
    postings: list[dict[str, Any]] = []
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def post(n: int) -> None:
        # Each phone posts its share; even numbers offer, odd numbers need, all at once.
        for i in range(n, POSTINGS, CLIENTS):
            party_id, token = people[i % PARTICIPANTS]
            side = "offers" if i % 2 == 0 else "needs"
            response = phones.client().post(
                f"{market}/{side}",
                json={
                    "kind": KINDS[i % len(KINDS)],
                    "quantity": str(1 + i % 8),
                    "unit": "hours",
                    "description": f"Posting {i} von {party_id[:8]}",
                },
                headers=bearer(token, **{"Idempotency-Key": f"post-{i}"}),
            )
            with lock:
                answers[response.status_code] += 1
                if response.status_code == 201:
                    postings.append({**response.json(), "token": token})

    assert run_in_threads(post, CLIENTS) == []
    assert answers == Counter({201: POSTINGS})  # not one conflict, not one retry needed
    offers = [p for p in postings if p["side"] == "offer"]
    needs = [p for p in postings if p["side"] == "need"]
    # Offers and needs of different parties, paired for the deals.
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    free_needs = list(needs)
    for offer in offers:
        need = next((n for n in free_needs if n["party_id"] != offer["party_id"]), None)
        if need is not None and len(pairs) < DEALS:
            free_needs.remove(need)
            pairs.append((offer, need))
    assert len(pairs) == DEALS
    deals: Counter[int] = Counter()

    def deal(n: int) -> None:
        # Four brokers and the offering participants close deals at the same time.
        for i in range(n, DEALS, CLIENTS):
            offer, need = pairs[i]
            token = brokers[i % 4][1] if i % 2 == 0 else offer["token"]
            response = phones.client().post(
                f"{market}/deals",
                json={"title": f"Deal {i}", "offer_id": offer["id"], "need_id": need["id"]},
                headers=bearer(token, **{"Idempotency-Key": f"deal-{i}"}),
            )
            with lock:
                deals[response.status_code] += 1

    assert run_in_threads(deal, CLIENTS) == []
    assert deals == Counter({201: DEALS}), deals

    # Two brokers press "deal" on the same offer at the same moment: one deal, one 409.
    left_offer = next(o for o in offers if all(o is not p[0] for p in pairs))
    left_need = next(n for n in free_needs if n["party_id"] != left_offer["party_id"])
    race: list[int] = []

    def both(n: int) -> None:
        response = phones.client().post(
            f"{market}/deals",
            json={"title": "Zugleich", "offer_id": left_offer["id"], "need_id": left_need["id"]},
            headers=bearer(brokers[n][1]),
        )
        with lock:
            race.append(response.status_code)

    assert run_in_threads(both, 2) == []
    assert sorted(race) == [201, 409]
    phones.close()

    with httpx.Client(base_url=base_url, timeout=60) as client:
        api = Api(client, admin_token)
        head = client.get("/v1/events", params={"after": 0, "limit": 1}, headers=api.admin)
        assert head.status_code == 200
        items = all_events(api)
        position = str(items[-1]["position"])
        stats = client.get(
            f"{market}/stats", params={"min_position": position}, headers=api.admin
        ).json()
        assert (stats["offers"], stats["needs"], stats["deals"]) == (150, 150, DEALS + 1)
        recomputed = stats_from_events(items, created.json()["id"])
        assert {k: v for k, v in stats.items() if k not in ("market_id", "status")} == recomputed
        matched = client.get(
            f"{market}/offers", params={"status": "matched", "limit": 500}, headers=api.admin
        ).json()
        assert len(matched["items"]) == DEALS + 1
