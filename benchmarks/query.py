"""`GET /v1/agreements?party=…` in-process against the same SQL through psycopg."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from benchmarks.data import Member
from benchmarks.stats import percentile
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app

PAGE = 50

# The best plain SQL for a partner asking for its own agreements: walk the party index
# newest first for one page, then read the parties of that page.
PAGE_SQL = (
    "SELECT a.agreement_id, a.seq, a.title, a.status, a.sector_mix, a.proposer, "
    "a.version, a.revision, a.in_force_revision, a.created_at, a.updated_at "
    "FROM rm_agreement_parties fp JOIN rm_agreements a ON a.agreement_id = fp.agreement_id "
    "WHERE fp.party_id = %s AND fp.is_current = %s ORDER BY fp.seq DESC LIMIT %s"
)
PARTIES_SQL = (
    "SELECT agreement_id, party_id, sector FROM rm_agreement_parties "
    "WHERE is_current = %s AND agreement_id = ANY(%s) ORDER BY party_id"
)


def api_latencies(services: Services, members: Sequence[Member], requests: int) -> list[float]:
    """Milliseconds per request, served in-process by the ASGI app (a partner, its party)."""
    chooser = random.Random(7)
    samples = []
    with TestClient(create_app(services)) as client:
        for i in range(requests + 10):
            member = chooser.choice(members)
            started = time.perf_counter()
            response = client.get(
                "/v1/agreements",
                params={"party": member.party_id, "limit": PAGE},
                headers={"Authorization": f"Bearer {member.token}"},
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200 or not response.json()["items"]:
                raise RuntimeError(f"query answered {response.status_code}: {response.text[:300]}")
            if i >= 10:  # the first requests warm connections and statement caches
                samples.append(elapsed)
    return samples


def raw_latencies(database_url: str, members: Sequence[Member], requests: int) -> list[float]:
    """Milliseconds for the same two statements through one psycopg connection."""
    chooser = random.Random(7)
    samples = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for i in range(requests + 10):
            member = chooser.choice(members)
            started = time.perf_counter()
            rows = conn.execute(
                PAGE_SQL, (member.party_id, True, PAGE + 1), prepare=True
            ).fetchall()
            page = rows[:PAGE]
            conn.execute(PARTIES_SQL, (True, [r[0] for r in page]), prepare=True).fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            if not page:
                raise RuntimeError(f"raw query found {len(page)} rows")
            if i >= 10:
                samples.append(elapsed)
    return samples


def p99(samples: list[float]) -> dict[str, Any]:
    """Summary of one round."""
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}
