"""Transitive membership questions at 10,000 parties and 50,000 memberships, in-process
through the API against the same recursive question in raw SQL through psycopg."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from benchmarks.stats import percentile
from tris.application.access import Role
from tris.bootstrap import Services
from tris.domain.networks.membership import Membership, MembershipTerms
from tris.domain.party import Party, PartyDetails
from tris.domain.values import OPERATOR, Actor, Sector
from tris.interfaces.http.app import create_app

OPERATOR_ACTOR = Actor(OPERATOR, "bench-admin")
DISTRICTS = 100
REGIONS = 10
BATCH = 1_000
AS_OF = "2026-06-01"

# The best plain SQL for "the networks a company belongs to on a day, through member
# networks too": the same recursive walk over the memberships table and its member index.
UPWARD_SQL = (
    "WITH RECURSIVE walk(party, depth) AS ("
    "SELECT m.network_id, 1 FROM rm_memberships m WHERE m.member_id = %s "
    "AND m.status IN ('active', 'ended') AND m.valid_from <= %s "
    "AND (m.valid_to IS NULL OR m.valid_to >= %s) "
    "UNION SELECT m.network_id, w.depth + 1 FROM walk w JOIN rm_memberships m "
    "ON m.member_id = w.party WHERE w.depth < 32 AND m.status IN ('active', 'ended') "
    "AND m.valid_from <= %s AND (m.valid_to IS NULL OR m.valid_to >= %s)) "
    "SELECT party, MIN(depth) FROM walk GROUP BY party"
)


@dataclass(frozen=True)
class Seeded:
    """The parties of the networks benchmark."""

    top: str
    districts: list[str]
    companies: list[str]
    memberships: int
    admin_token: str


def seed(services: Services, parties: int = 10_000, memberships: int = 50_000) -> Seeded:
    """A networks' network over 10 regional networks over 100 district networks, and the
    remaining parties as companies each in several district networks (written in bulk
    saves, acyclic by construction), then the read models caught up."""
    app = services.store.log.app

    def party(name: str, network: bool) -> Party:
        details = PartyDetails(name=name, sector=Sector.BUSINESS, network=network)
        return Party.register(party_id=uuid.uuid4(), actor=OPERATOR_ACTOR, details=details)

    top = party("Netzwerk der Netzwerke", True)
    regions = [party(f"Regionalnetzwerk {n}", True) for n in range(REGIONS)]
    districts = [party(f"Bezirksnetzwerk {n}", True) for n in range(DISTRICTS)]
    companies = [party(f"Betrieb {n}", False) for n in range(parties - 1 - REGIONS - DISTRICTS)]
    every = [top, *regions, *districts, *companies]
    for start in range(0, len(every), BATCH):
        app.save(*every[start : start + BATCH])

    def record(network: Party, member: Party, since: date) -> Membership:
        terms = MembershipTerms(network.party_id, member.party_id, "member", since, None, "")
        return Membership.request(membership_id=uuid.uuid4(), actor=OPERATOR_ACTOR, terms=terms)

    chooser = random.Random(11)
    made = [record(top, region, date(2020, 1, 1)) for region in regions]
    made += [record(regions[n % REGIONS], d, date(2021, 1, 1)) for n, d in enumerate(districts)]
    per_company = max(1, (memberships - len(made)) // len(companies))
    for company in companies:
        for district in chooser.sample(districts, per_company):
            made.append(record(district, company, date(2022 + chooser.randrange(4), 1, 1)))
    for start in range(0, len(made), BATCH):
        app.save(*made[start : start + BATCH])
    services.projections.catch_up()
    return Seeded(
        top=top.party_id,
        districts=[d.party_id for d in districts],
        companies=[c.party_id for c in companies],
        memberships=len(made),
        admin_token=services.tokens.issue(Role.ADMIN).token,
    )


def api_latencies(services: Services, seeded: Seeded, requests: int) -> list[float]:
    """Milliseconds per `GET /v1/parties/{company}/networks?transitive=true`, in-process."""
    chooser = random.Random(7)
    samples = []
    headers = {"Authorization": f"Bearer {seeded.admin_token}"}
    with TestClient(create_app(services)) as client:
        for i in range(requests + 10):
            company = chooser.choice(seeded.companies)
            started = time.perf_counter()
            response = client.get(
                f"/v1/parties/{company}/networks",
                params={"transitive": "true", "as_of": AS_OF},
                headers=headers,
            )
            elapsed = (time.perf_counter() - started) * 1000
            items = response.json().get("items") if response.status_code == 200 else None
            if not items or not any(item["network_id"] == seeded.top for item in items):
                raise RuntimeError(
                    f"networks answered {response.status_code}: {response.text[:300]}"
                )
            if i >= 10:
                samples.append(elapsed)
    return samples


def raw_latencies(database_url: str, seeded: Seeded, requests: int) -> list[float]:
    """Milliseconds for the same recursive question through one psycopg connection."""
    chooser = random.Random(7)
    samples = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for i in range(requests + 10):
            company = chooser.choice(seeded.companies)
            started = time.perf_counter()
            rows = conn.execute(
                UPWARD_SQL, (company, AS_OF, AS_OF, AS_OF, AS_OF), prepare=True
            ).fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            if not any(party == seeded.top for party, _ in rows):
                raise RuntimeError("the raw question did not reach the networks' network")
            if i >= 10:
                samples.append(elapsed)
    return samples


def p99(samples: list[float]) -> dict[str, Any]:
    """Summary of one round."""
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}
