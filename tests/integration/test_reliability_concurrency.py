"""Races between processes: one If-Match, one Idempotency-Key, many writers at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support.commands import ctx, gate_saves
from tests.support.scenario import World, draft
from tests.support.trio import ServicesFactory, Trio
from tris.application.errors import VersionMismatchError
from tris.application.store import EventStore, Outcome
from tris.bootstrap import Services

PROCESSES = 6


def proposals_stored(store: EventStore) -> int:
    """How many Proposed events the log holds, counted in the table itself."""
    table = store.log.app.recorder.events_table_name  # type: ignore[attr-defined]
    with store.database.read() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table} WHERE topic LIKE %s", ("%.Proposed",))
        return int(cur.fetchone()[0])


def processes_meeting_before_save(open_services: ServicesFactory, world: World) -> list[Services]:
    """`PROCESSES` services on one database whose saves all start at the same moment."""
    processes = [world.services, *(open_services() for _ in range(PROCESSES - 1))]
    barrier = threading.Barrier(PROCESSES)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=60))
    return processes


def test_of_many_writers_with_one_if_match_one_succeeds_and_the_rest_fail_the_precondition(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    processes = processes_meeting_before_save(open_services, world)

    def revise(index: int) -> Outcome | Exception:
        member = (trio.senate, trio.firm)[index % 2]
        try:
            return processes[index].agreements.revise(
                member.ctx(expected_version=1),
                agreement_id,
                draft(trio.senate, trio.firm, quantity=str(index + 1)),
                f"writer {index}",
            )
        except VersionMismatchError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=PROCESSES) as pool:
        outcomes = list(pool.map(revise, range(PROCESSES)))

    winners = [o for o in outcomes if isinstance(o, Outcome)]
    assert len(winners) == 1, outcomes
    assert sum(isinstance(o, VersionMismatchError) for o in outcomes) == PROCESSES - 1
    view = world.services.agreements.get(world.admin, agreement_id)
    assert view["version"] == 2 and view["revision"] == 2


def test_concurrent_retries_of_one_idempotency_key_in_several_processes_store_one_command(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    processes = processes_meeting_before_save(open_services, world)
    before = proposals_stored(world.services.store)

    def propose(index: int) -> Outcome:
        return processes[index].agreements.propose(
            ctx(trio.senate, "storm-1"), draft(trio.senate, trio.firm)
        )

    with ThreadPoolExecutor(max_workers=PROCESSES) as pool:
        outcomes = list(pool.map(propose, range(PROCESSES)))

    assert proposals_stored(world.services.store) == before + 1
    assert len({o.body["id"] for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert all(o.status == 201 for o in outcomes)
