"""The portal's list and record pages at 100,000 agreements, timed server-side in-process.

An auditor signed in (the session cookie the sign-in form would set) reads what the public
reads and more: every agreement of the log. Each request goes through the whole ASGI app
(routing, session, queries, verification, templates); the client is in the same process,
so the time is the server's, not the network's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.testclient import TestClient

from benchmarks.data import Member
from benchmarks.stats import percentile
from tris.application.access import Principal, Role
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app
from tris.interfaces.web.audit import sessions
from tris.interfaces.web.sessions import COOKIE

WARM_UP = 10


def _timed(client: TestClient, paths: Sequence[str]) -> list[float]:
    samples = []
    for index, path in enumerate(paths):
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        if index >= WARM_UP:
            samples.append(elapsed)
    return samples


def _record_ids(services: Services, auditor: Principal, members: Sequence[Member]) -> list[str]:
    """Agreements from all over the log: the newest page of random parties."""
    chooser = random.Random(11)
    found: list[str] = []
    for member in chooser.sample(list(members), min(20, len(members))):
        page = services.queries.agreements(
            auditor, AgreementFilter(party=member.party_id), limit=20
        )
        found += [item["id"] for item in page["items"]]
    chooser.shuffle(found)
    return found


def measure(
    services: Services, members: Sequence[Member], requests: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """p95 in ms of the agreement list (first pages, filters, text search, further pages)
    and of the record page (badges, timeline, revisions, verification)."""
    issued = services.tokens.issue(Role.AUDITOR, label="portal benchmark")
    auditor = Principal(issued.token_id, Role.AUDITOR)
    cookie = sessions(services).issue(auditor)
    chooser = random.Random(5)
    with TestClient(create_app(services), cookies={COOKIE: cookie}) as client:
        first = client.get("/audit/agreements")
        if first.status_code != 200:
            raise RuntimeError(f"the audit list answered {first.status_code}")
        # A cursor deep in the log: the page after 50,000 newer agreements.
        cursor = services.queries.cursors.encode(services.projections.head() // 2)
        lists = []
        for _ in range(requests + WARM_UP):
            member = chooser.choice(members)
            lists.append(
                chooser.choice(
                    [
                        "/audit/agreements",
                        "/audit/agreements?status=in_force",
                        "/audit/agreements?sector_mix=trisectoral",
                        f"/audit/agreements?q=Kooperation%20{chooser.randrange(1000)}",
                        f"/audit/agreements?sector=state&lang=en&region=Berlin-{member.sector.value}",
                        f"/audit/agreements?region=Berlin-{chooser.randrange(12)}&cursor={cursor}",
                        f"/audit/agreements?sector={member.sector.value}",
                    ]
                )
            )
        list_ms = _timed(client, lists)
        ids = _record_ids(services, auditor, members)
        log(f"  {len(ids)} agreements sampled for record pages")
        records = [f"/audit/agreements/{chooser.choice(ids)}" for _ in range(requests + WARM_UP)]
        record_ms = _timed(client, records)
    return {
        "portal_list_p95_ms": percentile(list_ms, 95),
        "portal_list_p50_ms": percentile(list_ms, 50),
        "portal_record_p95_ms": percentile(record_ms, 95),
        "portal_record_p50_ms": percentile(record_ms, 50),
        "portal_requests": requests,
    }
