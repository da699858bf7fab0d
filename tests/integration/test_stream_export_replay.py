"""Export → replay into a fresh store of the other backend → the same events, hashes, digests."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import psycopg
import pytest

from tests.support.integrity import full_story, integrity_settings
from tests.support.postgres import random_database_name
from tests.support.scenario import make_world
from tris.application.errors import (
    ExportFormatError,
    ExportIntegrityError,
    PartialExportError,
    ReplayTargetNotEmptyError,
)
from tris.application.opendata.export import write_export
from tris.application.opendata.replay import check_export, replay
from tris.application.opendata.stream import EventStream
from tris.application.parties import new_contact
from tris.bootstrap import Services, build
from tris.config import parse_database_url
from tris.domain.party import PartyDetails
from tris.domain.values import Sector

TODAY = date(2026, 6, 1)


def open_store(url: str, tmp_path: Path) -> Services:
    return build(integrity_settings(url, tmp_path), today=lambda: TODAY)


@pytest.fixture
def source(database_url: str, tmp_path: Path) -> Iterator[Services]:
    """A store on each backend with a whole agreement story and a contact person."""
    built = open_store(database_url, tmp_path)
    world = make_world(built)
    full_story(world)
    built.parties.register(
        world.admin_ctx(),
        PartyDetails(name="Quartiersmanagement Soldiner Kiez", sector=Sector.STATE),
        (new_contact("Wiebke Vorsicht", "wiebke.vorsicht@example.net", "030 999 1"),),
    )
    built.projections.catch_up()
    yield built
    built.close()


@pytest.fixture
def other_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of the other backend than `database_url`."""
    backend, _ = parse_database_url(database_url)
    if backend == "postgres":
        yield f"sqlite:///{tmp_path}/replica.db"
        return
    cluster: Any = request.getfixturevalue("postgres_cluster")
    name = random_database_name()
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        with contextlib.suppress(psycopg.Error, OSError):
            cluster.drop_database(name)


@pytest.fixture
def target(other_url: str, tmp_path: Path) -> Iterator[Services]:
    built = open_store(other_url, tmp_path)
    yield built
    built.close()


def export_text(services: Services, after: int = 0) -> str:
    out = io.StringIO()
    write_export(EventStream(services.store), out, after=after)
    return out.getvalue()


def opener(text: str) -> Callable[[], TextIO]:
    return lambda: io.StringIO(text)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.split("\n") if line]


def test_a_replay_into_the_other_backend_gives_equal_events_hashes_and_digest(
    source: Services, target: Services
) -> None:
    exported = export_text(source)
    report = replay(target, opener(exported), batch_size=7)

    head = EventStream(source.store).head()
    assert report.events == head and report.head == head
    assert report.positions_preserved
    assert report.digest == source.projections.digest() == target.projections.digest()
    again = lines(export_text(target))
    original = lines(exported)
    assert [{k: v for k, v in e.items() if k != "exported_at"} for e in again[1:]] == original[1:]
    audit = target.integrity.audit()
    assert audit.ok, audit.findings
    assert audit.events == head and audit.leaves == head


def test_the_replayed_store_shows_contact_persons_as_erased(
    source: Services, target: Services
) -> None:
    replay(target, opener(export_text(source)))
    reader = make_world(target).admin
    party = next(p for p in target.parties.list(reader) if p["name"].startswith("Quartier"))
    assert party["contacts"][0]["erased"] is True
    assert party["contacts"][0]["name"] is None


def test_an_export_holds_the_stream_items_and_the_exact_stored_records(
    source: Services,
) -> None:
    exported = lines(export_text(source))
    header, events = exported[0], exported[1:]
    stream = EventStream(source.store)
    assert header["format"] == "tris-export/1" and header["after"] == 0
    assert header["source_head"] == stream.head() == len(events)
    assert [{k: v for k, v in e.items() if k != "stored"} for e in events] == stream.page(
        0, 500
    ).items
    first = source.store.log.app.recorder.select_notifications(start=1, limit=1)[0]
    assert events[0]["stored"] == {"topic": first.topic, "state": first.state.decode()}
    text = json.dumps(exported, ensure_ascii=False)
    assert "Wiebke" not in text and "wiebke.vorsicht" not in text and "999 1" not in text


def test_a_partial_export_starts_after_its_position(source: Services) -> None:
    exported = lines(export_text(source, after=5))
    assert exported[0]["after"] == 5
    assert [e["position"] for e in exported[1:]] == list(
        range(6, EventStream(source.store).head() + 1)
    )


def test_a_replay_refuses_a_store_that_holds_events(source: Services) -> None:
    exported = export_text(source)
    head = EventStream(source.store).head()
    with pytest.raises(ReplayTargetNotEmptyError, match="fresh, empty database"):
        replay(source, opener(exported))
    assert EventStream(source.store).head() == head


def test_a_replay_refuses_a_partial_export(source: Services, target: Services) -> None:
    with pytest.raises(PartialExportError, match="after position 3"):
        replay(target, opener(export_text(source, after=3)))
    assert EventStream(target.store).head() == 0


def test_a_changed_record_is_refused_naming_its_position_before_anything_is_written(
    source: Services, target: Services
) -> None:
    exported = lines(export_text(source))
    victim = next(e for e in exported[1:] if e["type"] == "Proposed")
    victim["stored"]["state"] = victim["stored"]["state"].replace("Kiezküche", "Kiezkuchen")
    text = "\n".join(json.dumps(e, ensure_ascii=False) for e in exported) + "\n"
    with pytest.raises(ExportIntegrityError, match=f"position {victim['position']} "):
        replay(target, opener(text))
    assert EventStream(target.store).head() == 0


def test_events_out_of_their_chain_order_are_refused(source: Services, target: Services) -> None:
    exported = lines(export_text(source))
    events = exported[1:]
    first, second = [i for i, e in enumerate(events) if e["type"] == "Signed"][:2]
    events[first], events[second] = events[second], events[first]
    text = "\n".join(json.dumps(e, ensure_ascii=False) for e in [exported[0], *events])
    with pytest.raises(ExportIntegrityError, match=r"order is broken|comes next"):
        replay(target, opener(text))
    assert EventStream(target.store).head() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not json\n", "line 1 is not JSON"),
        ('{"format": "other/9"}\n', "tris-export/1"),
        (
            '{"format": "tris-export/1", "exported_at": "x", "after": 0, "source_head": 1}\n'
            '{"position": 1}\n',
            "line 2 is not an exported event",
        ),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(text: str, message: str) -> None:
    with pytest.raises(ExportFormatError, match=message):
        check_export(opener(text))
