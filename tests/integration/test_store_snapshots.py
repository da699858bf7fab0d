"""Snapshots and transcodings: what is loaded equals what the events say, value for value."""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from tests.support.market import market_story
from tests.support.networks import network_story
from tests.support.scenario import World, make_world
from tests.support.trio import ServicesFactory, Trio, busy_agreement
from tris.application.parties import new_contact
from tris.application.store import EventStore
from tris.application.views import agreement_view, party_view
from tris.domain.agreement import Agreement, AgreementStatus, Evidence, fulfilment_ledger
from tris.domain.party import Contact, Party, PartyDetails
from tris.domain.values import Actor, CommitmentKind, Sector, Terms

INTERVAL = 5


@pytest.fixture
def snapshotting_world(open_services: ServicesFactory) -> World:
    """A world whose store snapshots every aggregate at every fifth version."""
    return make_world(open_services(snapshot_interval=INTERVAL))


@pytest.fixture
def snapshotting_trio(snapshotting_world: World) -> Trio:
    """Three parties of the three sectors in the snapshotting world."""
    add = snapshotting_world.add
    return Trio(
        senate=add("Bezirksamt Mitte", Sector.STATE),
        firm=add("Kiezbäckerei GmbH", Sector.BUSINESS),
        assoc=add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY),
    )


def replayed(store: EventStore, aggregate_id: UUID, version: int | None = None) -> Any:
    """The aggregate rebuilt from its events alone, ignoring every snapshot."""
    events: list[Any] = [
        e
        for e in store.log.app.events.get(aggregate_id)
        if version is None or e.originator_version <= version
    ]
    return functools.reduce(lambda aggregate, event: event.mutate(aggregate), events, None)


def state(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's attributes, without the events it has not saved."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def snapshot_versions(store: EventStore, aggregate_id: UUID) -> list[int]:
    """Versions at which snapshots of the aggregate were taken."""
    assert store.log.app.snapshots is not None
    return [s.originator_version for s in store.log.app.snapshots.get(aggregate_id)]


def test_snapshots_are_taken_at_every_fifth_version(
    snapshotting_world: World, snapshotting_trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(snapshotting_world, snapshotting_trio)
    store = snapshotting_world.services.store

    assert snapshot_versions(store, UUID(agreement_id)) == [5, 10]


def test_an_agreement_loaded_from_a_snapshot_equals_one_replayed_from_every_event(
    snapshotting_world: World, snapshotting_trio: Trio
) -> None:
    agreement_id, views = busy_agreement(snapshotting_world, snapshotting_trio)
    store = snapshotting_world.services.store

    loaded = store.agreement(agreement_id)
    from_events = replayed(store, UUID(agreement_id))

    assert loaded.version == from_events.version == 13
    assert state(loaded) == state(from_events)
    ledger = fulfilment_ledger(store.events(UUID(agreement_id))).values()
    assert agreement_view(loaded, date(2026, 6, 1), ledger) == views[13]
    assert loaded.status is AgreementStatus.TERMINATED


@pytest.mark.parametrize("version", [4, 5, 6, 7, 9, 10, 11])
def test_an_earlier_version_is_right_even_when_a_later_snapshot_exists(
    snapshotting_world: World, snapshotting_trio: Trio, version: int
) -> None:
    agreement_id, _ = busy_agreement(snapshotting_world, snapshotting_trio)
    store = snapshotting_world.services.store

    at_version = store.agreement(agreement_id, version=version)

    assert at_version.version == version
    assert state(at_version) == state(replayed(store, UUID(agreement_id), version))


def test_a_party_loaded_from_a_snapshot_equals_the_party_as_built(
    snapshotting_world: World,
) -> None:
    services = snapshotting_world.services
    admin = snapshotting_world.admin_ctx()
    anna = new_contact("Anna Schulz", "anna@verein.example", "+49 30 123")
    member = snapshotting_world.add("Kiezladen eG", Sector.CIVIL_SOCIETY)
    party_id = member.party_id
    services.parties.update_details(
        admin,
        party_id,
        PartyDetails(
            name="Kiezladen eG",
            sector=Sector.CIVIL_SOCIETY,
            region="Berlin-Wedding",
            description="Genossenschaft",
            website="https://kiezladen.example",
        ),
    )
    services.parties.replace_contacts(admin, party_id, (anna,))
    # Version 5: the snapshot.
    services.parties.revoke_signing_key(member.ctx(), party_id, member.key_id)
    store = services.store

    loaded = store.party(party_id)
    assert snapshot_versions(store, UUID(party_id)) == [5]
    assert state(loaded) == state(replayed(store, UUID(party_id)))
    assert loaded.contacts == (anna,)
    assert isinstance(loaded.contacts, tuple)
    assert loaded.keys[member.key_id].revoked
    assert isinstance(loaded.keys[member.key_id].public_key, bytes)
    assert party_view(loaded, with_contacts=True)["contacts"] == [anna.to_dict()]


def test_quantities_keep_their_exact_digits_through_snapshots(
    snapshotting_world: World, snapshotting_trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(snapshotting_world, snapshotting_trio)
    agreements = snapshotting_world.services.agreements
    admin = snapshotting_world.admin

    first = agreements.revision(admin, agreement_id, 1)
    current = agreements.get(admin, agreement_id)
    assert first["content"]["commitments"][0]["quantity"] == "12.50"
    assert current["content"]["commitments"][0]["confirmed_quantity"] == "7.25"
    assert [f["quantity"] for f in current["fulfilments"]] == ["7.25", "12.75"]
    assert (
        agreements.get(admin, agreement_id, version=1)["content"]["commitments"][0]["quantity"]
        == "12.50"
    )


def test_transcodings_round_trip_every_domain_value(snapshotting_world: World) -> None:
    transcoder = snapshotting_world.services.store.log.app.mapper.transcoder
    contact = Contact("p1", "Anna", "anna@example.org")
    value = {
        "day": date(2026, 2, 28),
        "sector": Sector.CIVIL_SOCIETY,
        "kind": CommitmentKind.IN_KIND,
        "status": AgreementStatus.IN_FORCE,
        "quantity": Decimal("12.50"),
        "tiny": Decimal("0.000001"),
        "raw": bytes(range(256)),
        "pair": ("a", 1),
        "nested": [("x", (date(2026, 1, 1), Decimal("1.0"))), {"in": ("deep",)}],
        "contacts": (contact,),
        "terms": Terms("Text", date(2026, 1, 1), None),
        "actor": Actor("operator", "t1"),
        "evidence": Evidence("https://example.org/x", "0" * 64),
        "details": PartyDetails("Verein", Sector.STATE, region="Berlin"),
        "empty": (),
    }

    decoded = transcoder.decode(transcoder.encode(value))

    assert decoded == value
    assert type(decoded["pair"]) is tuple
    assert type(decoded["contacts"]) is tuple
    assert type(decoded["nested"][0]) is tuple and type(decoded["nested"][0][1]) is tuple
    assert type(decoded["empty"]) is tuple
    assert type(decoded["nested"]) is list
    assert str(decoded["quantity"]) == "12.50"
    assert decoded["sector"] is Sector.CIVIL_SOCIETY
    assert type(decoded["day"]) is date


def test_a_stored_party_event_keeps_its_tuples(snapshotting_world: World) -> None:
    anna = new_contact("Anna Schulz", "anna@verein.example")
    outcome = snapshotting_world.services.parties.register(
        snapshotting_world.admin_ctx(),
        PartyDetails(name="Kiezladen eG", sector=Sector.CIVIL_SOCIETY),
        (anna,),
    )
    store = snapshotting_world.services.store

    (registered,) = store.events(UUID(outcome.body["id"]))
    assert isinstance(registered, Party.Registered)
    assert registered.contacts == (anna,)
    assert isinstance(store.party(outcome.body["id"]).contacts, tuple)


def test_an_agreement_event_decodes_to_domain_values(
    snapshotting_world: World, snapshotting_trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(snapshotting_world, snapshotting_trio)
    events = snapshotting_world.services.store.events(UUID(agreement_id))

    recorded = events[6]
    assert isinstance(recorded, Agreement.FulfilmentRecorded)
    assert recorded.quantity == Decimal("7.25") and str(recorded.quantity) == "7.25"
    assert recorded.delivered_on == date(2026, 5, 20)
    assert recorded.evidence == Evidence("https://example.org/foto.jpg", "ab" * 32)
    signed = events[2]
    assert isinstance(signed, Agreement.Signed)
    assert isinstance(signed.signature, bytes) and len(signed.signature) == 64
    proposed = events[0]
    assert isinstance(proposed, Agreement.Proposed)
    assert proposed.party_sectors[snapshotting_trio.assoc.party_id] is Sector.CIVIL_SOCIETY
    assert isinstance(proposed.content.parties, tuple)


def test_a_market_and_the_membership_graph_load_from_snapshots_as_replayed(
    snapshotting_world: World,
) -> None:
    market_id = market_story(snapshotting_world)
    network_story(snapshotting_world)
    store = snapshotting_world.services.store
    market = store.market(market_id)
    assert snapshot_versions(store, market.id) == [5]
    assert state(market) == state(replayed(store, market.id))
    graph = store.membership_graph()
    assert graph is not None and graph.version >= 3
    assert state(graph) == state(replayed(store, graph.id))
