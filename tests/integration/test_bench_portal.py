"""The portal benchmark, small: it reads real pages of a bulk-written log on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import portal, stream
from benchmarks.data import Builder, register_members, trios
from tests.support.integrity import integrity_settings
from tris.bootstrap import Services, build


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path))
    yield built
    built.close()


def test_the_portal_benchmark_times_list_and_record_pages(services: Services) -> None:
    members = register_members(services, 12)
    builder = Builder(services, members)
    builder.long_agreement(next(trios(members)), 30)
    builder.agreements(members, 150, lambda n: 6 + n % 5)
    stream.rebuild(services)
    services.integrity.issue_checkpoint()
    figures = portal.measure(services, members, 15, log=lambda _: None)
    assert figures["portal_requests"] == 15
    for key in ("portal_list_p95_ms", "portal_record_p95_ms"):
        assert 0 < figures[key] < 60_000, key
    assert figures["portal_list_p50_ms"] <= figures["portal_list_p95_ms"]
