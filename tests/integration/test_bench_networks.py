"""The networks benchmark's data and questions, small: the API and the raw SQL agree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from benchmarks import networks
from tests.support.integrity import integrity_settings
from tris.application.readmodels.queries.networks import MembershipQuestion
from tris.bootstrap import Services, build


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path))
    yield built
    built.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_benchmark_graph_answers_alike_through_the_api_and_in_raw_sql(
    services: Services, database_url: str
) -> None:
    seeded = networks.seed(services, parties=400, memberships=1_500)
    assert seeded.memberships >= 1_000
    assert len(networks.api_latencies(services, seeded, 20)) == 20
    assert len(networks.raw_latencies(database_url, seeded, 20)) == 20
    company = seeded.companies[0]
    question = MembershipQuestion(date.fromisoformat(networks.AS_OF), None, True)
    answered = {i["network_id"]: i["depth"] for i in services.queries.networks(company, question)}
    with psycopg.connect(database_url, autocommit=True) as conn:
        raw = dict(conn.execute(networks.UPWARD_SQL, (company, *[networks.AS_OF] * 4)).fetchall())
    assert answered == raw
    assert answered[seeded.top] == 3
