"""PostgreSQL: a stream reader never skips an event whose transaction commits late.

Writers commit in parallel there and positions are assigned after commit (see
`tris/storage/postgres_parallel.py`). A reader paging through the stream while one
transaction stays open must see nothing past it, and then every event exactly once, the late
one included.
SQLite writers hold the database's single write lock, so no event can commit late there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.support.concurrency import joined
from tests.support.late_writer import late_writer, proposing
from tests.support.scenario import make_world
from tris.application.opendata.stream import EventStream
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.values import Sector

pytestmark = pytest.mark.postgres


@pytest.fixture
def services(postgres_cluster: Any) -> Iterator[Services]:
    url = postgres_cluster.create_database()
    built = build(
        load_settings(database_url=url, projections="inline"), today=lambda: date(2026, 6, 1)
    )
    yield built
    built.close()


def test_a_paging_reader_waits_for_a_late_writer_and_then_sees_every_event_once(
    services: Services,
) -> None:
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    store = services.store
    stream = EventStream(store)
    head_before = stream.head()

    # A reader that keeps paging, as a researcher's client would, in pages of two.
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def follow() -> None:
        after = 0
        while not stop.is_set():
            page = stream.page(after, 2)
            seen.extend(page.items)
            after = page.next_after
            if not page.items:
                time.sleep(0.01)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        with late_writer(services, firm):
            # Others save meanwhile; each waits for the numbering lock the late writer holds.
            others = proposing(services, firm, assoc)
            time.sleep(0.5)
            # Nothing after the positions before the open transaction is there yet.
            assert [i["position"] for i in seen] == list(range(1, head_before + 1))
            assert stream.page(head_before, 10).items == []
        joined(*others)

        deadline = time.monotonic() + 15
        while len(seen) < head_before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        joined(reader)

    assert [i["position"] for i in seen] == list(range(1, head_before + 6))
    tail = seen[head_before:]
    assert tail[0]["type"] == "DetailsUpdated"
    assert [i["type"] for i in tail[1:]] == ["Proposed"] * 4
    assert stream.head() == head_before + 5
