"""A writer whose transaction commits late: the PostgreSQL choreography the ordering tests need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.postgres import PostgresAggregateRecorder

from tests.support.scenario import Member
from tris.bootstrap import Services
from tris.domain.party import PartyDetails
from tris.domain.values import Sector
from tris.storage.postgres_parallel import ParallelPostgresRecorder


@contextmanager
def late_writer(services: Services, member: Member) -> Iterator[None]:
    """Insert one event of `member`'s party in a transaction that stays open in the block.

    The event takes the next log position at once, but commits only when the block ends,
    after whatever the block commits meanwhile: readers must neither skip it nor move past it.
    """
    store = services.store
    recorder = store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)
    party = store.party(member.party_id)
    party.update_details(
        member.principal.actor,
        PartyDetails(name="Kiezbäckerei Schulz & Töchter GmbH", sector=Sector.BUSINESS),
    )
    late = [store.log.app.mapper.to_stored_event(e) for e in party.collect_events()]
    with recorder.datastore.get_connection() as conn, conn.transaction():
        with conn.cursor() as curs:
            recorder._insert_events(curs, late)
            PostgresAggregateRecorder._insert_stored_events(recorder, curs, late)
        yield
