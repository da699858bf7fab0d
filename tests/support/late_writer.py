"""A writer whose transaction commits late: the PostgreSQL choreography the ordering tests need."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.postgres import PostgresAggregateRecorder

from tests.support.scenario import Member, draft
from tris.bootstrap import Services
from tris.domain.party import PartyDetails
from tris.domain.values import Sector
from tris.storage.group_commit import Write
from tris.storage.postgres_parallel import ParallelPostgresRecorder


@contextmanager
def late_writer(services: Services, member: Member, *, numbered: bool = True) -> Iterator[None]:
    """Insert one event of `member`'s party in a transaction that stays open in the block.

    `numbered`: as TRIS's writers save (ADR 41), holding the numbering lock, the event at
    the next position. Every other writer waits for the lock until the block ends; readers
    see nothing after the positions before it until then, and the late event first.

    Not `numbered`: as a writer without the lock saves (the library's own insert, or a
    process of a version before ADR 41), the event without a position. The others are
    numbered meanwhile; the late event is numbered after its commit, behind them: readers
    must never skip it.
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
            if numbered:
                curs.execute(recorder._number_lock_sql)
                params, _ = recorder._append_params(curs, [Write((late, {}), frozenset())])
                curs.execute(recorder._append_sql, params)
            else:
                recorder._insert_events(curs, late)
                PostgresAggregateRecorder._insert_stored_events(recorder, curs, late)
        yield


def proposing(services: Services, firm: Member, assoc: Member) -> list[threading.Thread]:
    """Four proposals of `firm` with `assoc` ("Nach 0" … "Nach 3"), each on a thread of
    its own, started: the others that save while a late writer's transaction is open."""
    threads = [
        threading.Thread(
            target=services.agreements.propose,
            args=(firm.ctx(), draft(firm, assoc, title=f"Nach {n}")),
        )
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    return threads
