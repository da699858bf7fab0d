"""The open event stream read in pages: every event once, in global order, without personal data."""

from __future__ import annotations

import json
import threading

import pytest

from tests.support.concurrency import joined
from tests.support.integrity import RawDatabase, Story
from tests.support.scenario import World, draft
from tris.application.opendata.stream import EventStream, event_classes
from tris.application.parties import new_contact
from tris.bootstrap import Services
from tris.domain.agreement import Agreement
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting
from tris.domain.networks.membership import Membership, MembershipGraph
from tris.domain.party import Party, PartyDetails
from tris.domain.values import Sector


def read_all(stream: EventStream, limit: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    after = 0
    while True:
        page = stream.page(after, limit)
        if not page.items:
            assert page.next_after == after
            return items
        items += page.items
        after = page.next_after


def test_pages_hold_every_event_once_in_global_order(services: Services, story: Story) -> None:
    stream = EventStream(services.store)
    items = read_all(stream, limit=7)
    assert [i["position"] for i in items] == list(range(1, stream.head() + 1))
    agreement = [i for i in items if i["aggregate_id"] == story.agreement_id]
    assert [i["version"] for i in agreement] == list(range(1, len(agreement) + 1))
    assert {i["aggregate_type"] for i in items} == {"Party", "Agreement"}
    assert agreement[0]["type"] == "Proposed"
    assert agreement[-1]["type"] == "FulfilmentConfirmed"


def test_each_item_carries_its_recorded_hash_actor_time_and_data(
    services: Services, story: Story
) -> None:
    stream = EventStream(services.store)
    raw = RawDatabase(services)
    items = read_all(stream, limit=500)
    recorded = {
        (str(r[0]), int(r[1])): str(r[2])
        for r in raw.run("SELECT originator_id, originator_version, hash FROM tris_event_hashes")
    }
    assert len(recorded) == len(items)
    for item in items:
        assert item["hash"] == recorded[(item["aggregate_id"], item["version"])]
        # Key registrations carry their proof of possession since version 2.
        assert item["event_version"] == (2 if item["type"] == "SigningKeyRegistered" else 1)
        assert item["actor"]["party_id"] and item["actor"]["token_id"]  # type: ignore[index]
        assert str(item["time"]).startswith("20")
    signed = next(i for i in items if i["type"] == "Signed")
    assert set(signed["data"]) == {"revision", "key_id", "signature"}  # type: ignore[arg-type]
    recorded_fulfilment = next(i for i in items if i["type"] == "FulfilmentRecorded")
    data = recorded_fulfilment["data"]
    assert data["quantity"] == "4" and data["delivered_on"] == "2026-05-01"  # type: ignore[index]
    proposed = next(i for i in items if i["type"] == "Proposed")
    commitment = proposed["data"]["content"]["commitments"][0]  # type: ignore[index]
    assert commitment["quantity"] == "10" and commitment["kind"] == "time"


def test_an_empty_page_keeps_the_cursor(services: Services, story: Story) -> None:
    stream = EventStream(services.store)
    head = stream.head()
    page = stream.page(head, 50)
    assert page.items == [] and page.next_after == head
    assert stream.page(head + 1000, 50).next_after == head + 1000


def test_iterating_a_range_gives_the_same_items_as_the_pages(
    services: Services, story: Story
) -> None:
    stream = EventStream(services.store)
    head = stream.head()
    iterated = [s.item for s in stream.iterate(0, head, batch=4)]
    assert iterated == read_all(stream, limit=5)
    tail = [s.item["position"] for s in stream.iterate(5, head - 2, batch=3)]
    assert tail == list(range(6, head - 1))


def test_contact_persons_appear_only_as_their_person_ids(services: Services, world: World) -> None:
    contact = new_contact("Xaver Quirin", "xaver.quirin@example.net", "+49 30 1234 5678")
    registered = services.parties.register(
        world.admin_ctx(),
        PartyDetails(name="Kiezladen Wedding", sector=Sector.BUSINESS),
        (contact,),
    ).body
    services.parties.replace_contacts(
        world.admin_ctx(),
        registered["id"],
        (contact, new_contact("Yvonne Zettel", "yz@example.net")),
    )
    items = read_all(EventStream(services.store), limit=100)
    assert items[0]["data"]["contacts"] == [{"id": contact.person_id}]  # type: ignore[index]
    assert len(items[1]["data"]["contacts"]) == 2  # type: ignore[index]
    text = json.dumps(items, ensure_ascii=False)
    for secret in ("Xaver", "Quirin", "xaver.quirin", "1234 5678", "Zettel", "yz@", "sealed"):
        assert secret not in text


AGGREGATES = (Party, Agreement, Market, Posting, Membership, MembershipGraph)


def test_the_stream_knows_every_event_type_of_every_aggregate() -> None:
    names = {c.__qualname__ for c in event_classes(*AGGREGATES)}
    assert {"Party.Registered", "Party.PersonalDataErased", "Agreement.Signed"} <= names
    assert {"Market.Scheduled", "Posting.Matched", "Agreement.ProposedAtMarket"} <= names
    assert {"Membership.Corrected", "MembershipGraph.Changed"} <= names
    assert len(names) == 39


def test_paging_while_others_write_returns_every_event_once_in_order(
    services: Services, world: World
) -> None:
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    stream = EventStream(services.store)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(8):
                services.agreements.propose(firm.ctx(), draft(firm, assoc, title=f"W{n}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    seen: list[dict[str, object]] = []
    after = 0

    def drain() -> bool:
        nonlocal after
        page = stream.page(after, 3)
        seen.extend(page.items)
        after = page.next_after
        return bool(page.items)

    watcher = threading.Thread(target=lambda: ([w.join(timeout=120) for w in writers], done.set()))
    watcher.start()
    while not done.is_set():
        drain()
    while drain():
        pass
    joined(watcher, *writers)
    assert errors == []
    positions = [i["position"] for i in seen]
    assert positions == list(range(1, stream.head() + 1))
    identities = [(i["aggregate_id"], i["version"]) for i in seen]
    assert len(set(identities)) == len(identities)
    assert sum(1 for i in seen if i["type"] == "Proposed") == 32


def test_iterating_reads_the_log_a_batch_at_a_time(
    services: Services, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = services.store.log.app.recorder
    limits: list[int] = []
    select = recorder.select_notifications

    def counting(*args: object, **kwargs: object) -> object:
        limits.append(int(kwargs["limit"]))  # type: ignore[call-overload]
        return select(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recorder, "select_notifications", counting)
    stream = EventStream(services.store)
    head = stream.head()
    assert sum(1 for _ in stream.iterate(0, head, batch=4)) == head
    assert set(limits) == {4} and len(limits) == -(-head // 4)
