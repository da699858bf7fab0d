"""The golden export made with version 1 replays, in this and every later version, to the
read-model digest committed beside it — on both backends, every hash verified on the way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

import pytest

from tests.support.integrity import integrity_settings
from tris.application.opendata.replay import EVENT_TOPICS, replay
from tris.application.opendata.stream import EventStream
from tris.bootstrap import Services, build

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
EXPORT = GOLDEN / "export-v1.ndjson"
DIGEST = (GOLDEN / "export-v1.digest").read_text().strip()


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path), today=lambda: date(2026, 6, 1))
    yield built
    built.close()


def open_golden() -> TextIO:
    return EXPORT.open(encoding="utf-8", newline="\n")


def golden_events() -> list[dict[str, object]]:
    with open_golden() as handle:
        return [json.loads(line) for line in list(handle)[1:]]


# Event types registered after version 1 of the export: each belongs in a later golden
# export (export-v2.ndjson), made when it is added.
NEWER_THAN_V1: frozenset[str] = frozenset()


def test_the_golden_export_is_small_and_covers_every_event_type() -> None:
    assert EXPORT.stat().st_size < 300_000
    types = {f"{e['aggregate_type']}.{e['type']}" for e in golden_events()}
    # Every event class of the aggregates but the library's bases each aggregate gets.
    registered = {
        name
        for name in (topic.partition(":")[2] for topic in EVENT_TOPICS)
        if name.rpartition(".")[2] not in {"Event", "Created"}
    }
    assert types == registered - NEWER_THAN_V1


def test_the_golden_export_replays_to_the_committed_digest(fresh: Services) -> None:
    report = replay(fresh, open_golden)
    assert report.digest == DIGEST
    assert report.events == len(golden_events())
    assert fresh.integrity.audit().ok


def test_the_replayed_golden_store_keeps_every_stored_record_and_hash(fresh: Services) -> None:
    replay(fresh, open_golden)
    replayed = [s for s in EventStream(fresh.store).iterate(0, EventStream(fresh.store).head())]
    golden = golden_events()
    assert [s.item["position"] for s in replayed] == [e["position"] for e in golden]
    assert [s.item["hash"] for s in replayed] == [e["hash"] for e in golden]
    assert [
        {"topic": s.notification.topic, "state": s.notification.state.decode()} for s in replayed
    ] == [e["stored"] for e in golden]
