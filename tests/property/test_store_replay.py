"""Random command sequences through the use cases, stored and loaded back, on both backends.

Whatever the commands did (most succeed, some are refused), a second set of services on the
same database sees every agreement exactly as the first does, and an aggregate loaded from
snapshots taken at every second version equals the one replayed from all its events.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.property.command_session import Session, add_parties, play
from tests.property.states import exact, state_of
from tests.support.scenario import World, make_world
from tris.application.store import EventStore
from tris.application.views import agreement_view
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.agreement import fulfilment_ledger
from tris.domain.values import Sector

TODAY = date(2026, 6, 1)


ServicesFactory = Callable[[int], AbstractContextManager[Services]]


@pytest.fixture
def open_services(database_url: str) -> ServicesFactory:
    """Opens services on the test's database with a snapshot interval, for one example."""

    @contextlib.contextmanager
    def open_(snapshot_interval: int) -> Iterator[Services]:
        # Read models are not under test: no projection work and no waiting for workers.
        settings = load_settings(
            database_url=database_url,
            snapshot_interval=snapshot_interval,
            projections="worker",
            read_your_writes_timeout=0,
        )
        services = build(settings, today=lambda: TODAY)
        try:
            yield services
        finally:
            # Closed after every example: each holds a connection pool of its own.
            services.close()

    return open_


def replayed(store: EventStore, aggregate_id: UUID, version: int | None = None) -> Any:
    """The aggregate rebuilt from its stored events alone, ignoring every snapshot."""
    events: list[Any] = [
        e
        for e in store.log.app.events.get(aggregate_id)
        if version is None or e.originator_version <= version
    ]
    return functools.reduce(lambda aggregate, event: event.mutate(aggregate), events, None)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sectors=st.lists(st.sampled_from(Sector), min_size=3, max_size=4),
    steps=st.integers(min_value=5, max_value=40),
    data=st.data(),
)
def test_a_second_process_and_a_full_replay_see_every_agreement_as_the_first_does(
    open_services: ServicesFactory,
    sectors: list[Sector],
    steps: int,
    data: st.DataObject,
) -> None:
    with open_services(2) as services:
        world = make_world(services)
        add_parties(world, sectors)
        session = Session(world, data)
        play(session, steps)
        with open_services(100_000) as other:
            for agreement_id in session.agreements:
                view = services.agreements.get(world.admin, agreement_id)
                event(f"status {view['status']}")
                assert other.agreements.get(world.admin, agreement_id) == view
                other_state = state_of(other.store.agreement(agreement_id))
                assert exact(other_state) == exact(state_of(services.store.agreement(agreement_id)))
        for agreement_id in session.agreements:
            check_snapshots_against_replay(services, world, agreement_id, data)
        for member in session.members:
            party = services.store.party(member.party_id)
            from_events = replayed(services.store, party.id)
            assert exact(state_of(party)) == exact(state_of(from_events))


def check_snapshots_against_replay(
    services: Services, world: World, agreement_id: str, data: st.DataObject
) -> None:
    """Loaded through snapshots, now or at any earlier version, is what the events replay to."""
    aggregate_id = UUID(agreement_id)
    loaded = services.store.agreement(agreement_id)
    from_events = replayed(services.store, aggregate_id)
    assert state_of(loaded) == state_of(from_events)
    assert exact(state_of(loaded)) == exact(state_of(from_events))

    version = data.draw(st.integers(1, loaded.version), label="earlier version")
    at_version = services.store.agreement(agreement_id, version=version)
    replayed_to = replayed(services.store, aggregate_id, version)
    assert exact(state_of(at_version)) == exact(state_of(replayed_to))
    assert services.agreements.get(world.admin, agreement_id, version=version) == (
        agreement_view(
            replayed_to,
            TODAY,
            fulfilment_ledger(services.store.events(aggregate_id)[:version]).values(),
        )
    )

    snapshots = services.store.log.app.snapshots
    assert snapshots is not None
    taken = [s.originator_version for s in snapshots.get(aggregate_id)]
    assert taken or loaded.version < 2
