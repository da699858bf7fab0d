"""The golden exports replay, in this and every later version, to the read-model digests
committed beside them — on both backends, every hash verified on the way. Version 1 was made
before markets; version 2 with them; version 3 with networks as well."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

import pytest

from tests.support.integrity import integrity_settings
from tris.application.opendata.replay import EVENT_TOPICS, replay
from tris.application.opendata.stream import EventStream
from tris.bootstrap import Services, build

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
EXPORTS = ("export-v1", "export-v2", "export-v3")
MEMBERSHIP_TYPES = frozenset(
    {
        "Membership.Requested",
        "Membership.Recorded",
        "Membership.Accepted",
        "Membership.Rejected",
        "Membership.Ended",
        "Membership.Corrected",
        "MembershipGraph.Started",
        "MembershipGraph.Changed",
    }
)


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path), today=lambda: date(2026, 6, 1))
    yield built
    built.close()


def opener(name: str) -> Callable[[], TextIO]:
    def open_golden() -> TextIO:
        return (GOLDEN / f"{name}.ndjson").open(encoding="utf-8", newline="\n")

    return open_golden


def golden_events(name: str) -> list[dict[str, object]]:
    with opener(name)() as handle:
        return [json.loads(line) for line in list(handle)[1:]]


# The event types each export was made without: they came later, and the next export
# (export-v3.ndjson, made when new types are added) holds them.
NEWER_THAN = {
    "export-v1": frozenset(
        {
            "Agreement.ProposedAtMarket",
            "Agreement.Notarised",
            "Market.Scheduled",
            "Market.ParticipantAdmitted",
            "Market.Opened",
            "Market.Closed",
            "Market.Cancelled",
            "Posting.Posted",
            "Posting.Matched",
            "Posting.Withdrawn",
        }
    )
    | MEMBERSHIP_TYPES,
    "export-v2": MEMBERSHIP_TYPES,
    "export-v3": frozenset(),
}


@pytest.mark.parametrize("name", EXPORTS)
def test_the_golden_export_is_small_and_covers_every_event_type(name: str) -> None:
    assert (GOLDEN / f"{name}.ndjson").stat().st_size < 300_000
    types = {f"{e['aggregate_type']}.{e['type']}" for e in golden_events(name)}
    # Every event class of the aggregates but the library's bases each aggregate gets.
    registered = {
        name
        for name in (topic.partition(":")[2] for topic in EVENT_TOPICS)
        if name.rpartition(".")[2] not in {"Event", "Created"}
    }
    assert types == registered - NEWER_THAN[name]


@pytest.mark.parametrize("name", EXPORTS)
def test_the_golden_export_replays_to_the_committed_digest(fresh: Services, name: str) -> None:
    report = replay(fresh, opener(name))
    assert report.digest == (GOLDEN / f"{name}.digest").read_text().strip()
    assert report.events == len(golden_events(name))
    assert fresh.integrity.audit().ok


@pytest.mark.parametrize("name", EXPORTS)
def test_the_replayed_golden_store_keeps_every_stored_record_and_hash(
    fresh: Services, name: str
) -> None:
    replay(fresh, opener(name))
    replayed = [s for s in EventStream(fresh.store).iterate(0, EventStream(fresh.store).head())]
    golden = golden_events(name)
    assert [s.item["position"] for s in replayed] == [e["position"] for e in golden]
    assert [s.item["hash"] for s in replayed] == [e["hash"] for e in golden]
    assert [
        {"topic": s.notification.topic, "state": s.notification.state.decode()} for s in replayed
    ] == [e["stored"] for e in golden]
