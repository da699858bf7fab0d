"""Schema evolution: events stored as version 1 are read as version 2 through an upcast,
while their hashes (which cover what was stored) still verify and old exports still replay.

No TRIS event type has needed a second version yet, so the path is shown on a real event
class given a version 2 for the test: `Agreement.FulfilmentRecorded` gains `channel`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.integrity import Story, full_story, integrity_settings
from tests.support.scenario import make_world
from tris.application.access import Principal, Role
from tris.application.opendata.export import write_export
from tris.application.opendata.replay import replay
from tris.application.opendata.stream import EventStream, event_classes, event_version
from tris.application.store import CommandContext
from tris.bootstrap import Services, build
from tris.domain.agreement import Agreement
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting
from tris.domain.networks.membership import Membership, MembershipGraph
from tris.domain.party import Party

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TODAY = date(2026, 6, 1)


def upcast_v1_v2(state: dict[str, Any]) -> None:
    """Version 2 says through which channel a delivery was recorded; v1 had only the API."""
    state["channel"] = "api"


@pytest.fixture
def version_2(monkeypatch: pytest.MonkeyPatch) -> type[Any]:
    """`Agreement.FulfilmentRecorded` as a later TRIS would define it: version 2 and its upcast."""
    event_class = Agreement.FulfilmentRecorded
    monkeypatch.setattr(event_class, "class_version", 2, raising=False)
    monkeypatch.setattr(event_class, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    return event_class


def open_store(database_url: str, tmp_path: Path, name: str = "") -> Services:
    url = database_url if not name else f"sqlite:///{tmp_path}/{name}.db"
    return build(integrity_settings(url, tmp_path), today=lambda: TODAY)


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = open_store(database_url, tmp_path)
    yield built
    built.close()


@pytest.fixture
def story(services: Services) -> Story:
    return full_story(make_world(services))


def test_every_event_type_has_an_upcast_for_each_version_it_went_through() -> None:
    versioned = [
        c
        for c in event_classes(Party, Agreement, Market, Posting, Membership, MembershipGraph)
        if event_version(c) > 1
    ]
    # Not a loop over nothing: SigningKeyRegistered went to version 2 with proofs of keys.
    assert Party.SigningKeyRegistered in versioned
    for event_class in event_classes(
        Party, Agreement, Market, Posting, Membership, MembershipGraph
    ):
        for version in range(1, event_version(event_class)):
            assert callable(getattr(event_class, f"upcast_v{version}_v{version + 1}", None)), (
                f"{event_class.__qualname__} is version {event_version(event_class)} but "
                f"cannot be upcast from version {version}"
            )


def test_a_version_1_event_is_read_as_version_2(
    services: Services, story: Story, version_2: type[Any]
) -> None:
    events = services.store.events(UUID(story.agreement_id))
    recorded = [e for e in events if isinstance(e, version_2)]
    assert recorded and all(e.channel == "api" for e in recorded)
    # The aggregate still loads: apply() takes only the fields its method names.
    view = services.agreements.get(make_world(services).admin, story.agreement_id)
    assert view["status"] == "in_force"

    items = EventStream(services.store).page(0, 500).items
    fulfilment = next(i for i in items if i["type"] == "FulfilmentRecorded")
    assert fulfilment["event_version"] == 2
    assert fulfilment["data"]["channel"] == "api"
    versioned = {"FulfilmentRecorded", "SigningKeyRegistered"}
    assert all(i["event_version"] == 1 for i in items if i["type"] not in versioned)


def test_upcasting_leaves_every_hash_valid(
    services: Services, story: Story, version_2: type[Any]
) -> None:
    services.integrity.issue_checkpoint()
    report = services.integrity.audit()
    assert report.ok, report.findings
    verification = services.integrity.verification(make_world(services).admin, story.agreement_id)
    assert verification["ok"], verification["checks"]


def test_a_version_2_event_is_stored_with_its_version(
    services: Services, story: Story, version_2: type[Any]
) -> None:
    world = make_world(services)
    view = services.agreements.get(world.admin, story.agreement_id)
    commitment = view["content"]["commitments"][0]["id"]
    firm = story.parties[1]
    token = services.tokens.issue(Role.PARTNER, firm)
    ctx = CommandContext(Principal(token.token_id, Role.PARTNER, firm).actor)
    services.agreements.record_fulfilment(
        ctx, story.agreement_id, commitment, "1", date(2026, 5, 2), "Noch eine Stunde"
    )
    last = services.store.log.app.recorder.select_notifications(
        start=EventStream(services.store).head(), limit=1
    )[0]
    assert json.loads(last.state)["class_version"] == 2
    assert EventStream(services.store).page(last.id - 1, 1).items[0]["event_version"] == 2


def test_an_export_made_before_the_upcast_replays_after_it_to_the_same_digest(
    services: Services, story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.projections.catch_up()
    before = services.projections.digest()
    exported = io.StringIO()
    write_export(EventStream(services.store), exported)

    event_class = Agreement.FulfilmentRecorded
    monkeypatch.setattr(event_class, "class_version", 2, raising=False)
    monkeypatch.setattr(event_class, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    later = open_store("", tmp_path, name="later")
    try:
        report = replay(later, lambda: io.StringIO(exported.getvalue()))
        assert report.digest == before
        assert later.integrity.audit().ok
    finally:
        later.close()


def test_the_golden_export_replays_under_version_2_to_its_committed_digest(
    services: Services, version_2: type[Any]
) -> None:
    report = replay(services, lambda: (GOLDEN / "export-v1.ndjson").open(encoding="utf-8"))
    assert report.digest == (GOLDEN / "export-v1.digest").read_text().strip()
