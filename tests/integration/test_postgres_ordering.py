"""PostgreSQL write path: writers commit in parallel, readers never skip a late event."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.support.concurrency import joined, run_in_threads
from tests.support.late_writer import late_writer, proposing
from tests.support.scenario import Member, World, draft, make_world
from tris.application.readmodels.catalogue import default_projections
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.application.readmodels.runner import ProjectionRunner
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.values import Sector
from tris.storage.postgres_parallel import ParallelPostgresRecorder


@pytest.fixture
def services(postgres_cluster: Any) -> Iterator[Services]:
    url = postgres_cluster.create_database()
    built = build(
        load_settings(database_url=url, projections="worker", read_your_writes_timeout=0),
        today=lambda: date(2026, 6, 1),
    )
    yield built
    built.close()


def positions(services: Services) -> list[int]:
    recorder = services.store.log.app.recorder
    return [n.id for n in recorder.select_notifications(start=None, limit=100_000)]


def proposed_at_once(services: Services, writers: int, each: int) -> tuple[Member, Member]:
    """`writers` threads proposing `each` agreements at the same time; the two parties."""
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)

    def write(n: int) -> None:
        for i in range(each):
            services.agreements.propose(firm.ctx(), draft(firm, assoc, title=f"T{n}-{i}"))

    assert run_in_threads(write, writers) == []
    return firm, assoc


def test_concurrent_writers_get_contiguous_positions(services: Services) -> None:
    proposed_at_once(services, writers=8, each=5)
    seen = positions(services)
    assert seen == list(range(1, len(seen) + 1))


def test_writers_of_two_processes_take_turns_at_numbering(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes' writers (each its own group commit) number their batches in turns
    (ADR 41): a batch takes the numbering lock before it reads the highest position, so
    no batch is given a position another still holds, and none is written again save by
    save for it."""
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    other = build(
        load_settings(
            database_url=services.settings.database_url,
            projections="worker",
            read_your_writes_timeout=0,
        ),
        today=lambda: date(2026, 6, 1),
    )
    try:
        again: list[int] = []
        for each in (services, other):
            each_recorder = each.store.log.app.recorder
            assert isinstance(each_recorder, ParallelPostgresRecorder)
            alone = each_recorder._write_alone

            def counted(*args: Any, _alone: Any = alone, **kwargs: Any) -> None:
                again.append(1)
                _alone(*args, **kwargs)

            monkeypatch.setattr(each_recorder, "_write_alone", counted)

        def write(n: int) -> None:
            side = (services, other)[n % 2]
            for i in range(6):
                side.agreements.propose(firm.ctx(), draft(firm, assoc, title=f"T{n}-{i}"))

        assert run_in_threads(write, 8) == []
    finally:
        other.close()
    seen = positions(services)
    assert seen == list(range(1, len(seen) + 1))
    assert again == []


def late_world(services: Services) -> tuple[World, Member, Member]:
    world: World = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    return world, firm, assoc


@contextlib.contextmanager
def tailing(services: Services) -> Iterator[ProjectionRunner]:
    """A tailing reader (a projection worker) running all the time in the block, caught
    up when it begins."""
    tail = ProjectionRunner(services.store, default_projections(), batch_size=2)
    stop = threading.Event()
    worker = threading.Thread(target=tail.run_forever, args=(stop,), kwargs={"interval": 0.01})
    worker.start()
    try:
        tail.wait_for(tail.head(), timeout=10)
        yield tail
    finally:
        stop.set()
        joined(worker)


def test_a_writer_that_commits_late_is_never_skipped(services: Services) -> None:
    world, firm, assoc = late_world(services)
    store = services.store
    recorder = store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)

    with tailing(services) as tail:
        head_before = tail.head()

        # The late writer: a transaction that saves an event, numbered, and stays open.
        with late_writer(services, firm):
            # Others save meanwhile: they wait for the numbering lock it holds; readers
            # see nothing beyond what was there.
            later = proposing(services, firm, assoc)
            time.sleep(1.5)
            assert all(thread.is_alive() for thread in later)
            assert tail.head() == head_before
            assert tail.caught_up_to() == head_before
        joined(*later)

        assert tail.wait_for(head_before + 1 + 4 * 1, timeout=15)
        seen = positions(services)
        assert seen == list(range(1, len(seen) + 1))
        notifications = recorder.select_notifications(
            start=head_before, limit=100, inclusive_of_start=False
        )
        kinds = [n.topic.rsplit(".", 1)[-1] for n in notifications]
        # The late event comes first: it was numbered before the others.
        assert kinds[0] == "DetailsUpdated"
        assert sorted(kinds[1:]) == ["Proposed"] * len(later)

    listed = services.queries.agreements(world.admin, AgreementFilter())["items"]
    assert len(listed) == len(later)
    live = tail.digest()
    services.projections.rebuild()
    assert services.projections.digest() == live


def test_a_writer_without_the_lock_that_commits_late_is_numbered_after_it(
    services: Services,
) -> None:
    """A writer that saves without the numbering lock (a process of a version before
    ADR 41) leaves its event unnumbered: the others are numbered and read meanwhile, and
    the late event is numbered after its commit, behind them; no reader skips it."""
    _, firm, assoc = late_world(services)
    with tailing(services) as tail:
        head_before = tail.head()
        with late_writer(services, firm, numbered=False):
            joined(*proposing(services, firm, assoc))
            assert tail.wait_for(head_before + 4, timeout=15)
            assert positions(services) == list(range(1, head_before + 5))
        # Numbered once a reader runs the sequencer after its commit.
        assert tail.wait_for(head_before + 5, timeout=15)
        seen = positions(services)
        assert seen == list(range(1, head_before + 6))
        last = services.store.log.app.recorder.select_notifications(start=head_before + 5, limit=1)
        assert last[0].topic.rsplit(".", 1)[-1] == "DetailsUpdated"
    live = tail.digest()
    services.projections.rebuild()
    assert services.projections.digest() == live


def test_a_numbering_lost_in_a_crash_comes_back_the_same(services: Services) -> None:
    """The sequencer commits without waiting for the disk (ADR 34): a crash may lose its
    last numbering, never the events. Numbered again, every event gets the position it had,
    also with events committed after it that were never numbered."""
    firm, assoc = proposed_at_once(services, writers=4, each=3)
    recorder = services.store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'

    def numbering() -> dict[int, int | None]:
        with recorder.datastore.get_connection() as conn:
            rows = conn.execute(f"SELECT notification_id, position FROM {table}").fetchall()
        return {row["notification_id"]: row["position"] for row in rows}

    before = numbering()
    kept = sorted(p for p in before.values() if p is not None)
    assert kept == list(range(1, len(before) + 1))
    lost_from = kept[len(kept) // 2]
    with recorder.datastore.get_connection() as conn:
        # What the crash leaves: the rows as committed, the last numbering not there.
        conn.execute(f"UPDATE {table} SET position = NULL WHERE position >= %s", (lost_from,))
        conn.commit()
        # The sequencer's own transaction does not wait for the disk.
        with conn.transaction():
            recorder._sequence(conn, wait=True)
            setting = conn.execute("SELECT current_setting('synchronous_commit') AS s").fetchone()
        assert setting is not None and setting["s"] == "off"
    # Events committed since, numbered in the same call as the lost ones.
    services.agreements.propose(firm.ctx(), draft(firm, assoc, title="Nach dem Absturz"))
    after = numbering()
    assert {i: after[i] for i in before} == before
    assert sorted(p for p in after.values() if p is not None) == list(range(1, len(after) + 1))


def test_a_save_looks_up_the_aggregates_it_read_by_index_not_by_scanning_the_log(
    services: Services,
) -> None:
    """The save's statement is prepared once per connection and kept; its plan is made
    from the statistics of that moment. The check of the aggregates a command read must
    look each one up by its key even in a plan made while the log was small: a plan that
    scans the log grows with it on every save (it did: a hash join over the whole table)."""
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    services.agreements.propose(firm.ctx(), draft(firm, assoc))
    recorder = services.store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)
    names: list[str] = []

    def numbered(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode()
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}".encode()

    statement = re.sub(rb"%\((\w+)\)s", numbered, recorder._append_sql).decode()
    values = {
        "read_saves": "'{0}'",
        "read_ids": "'{00000000-0000-0000-0000-000000000001}'",
        "read_versions": "'{1}'",
        "first_saves": "'{0}'",
        "first_ids": "'{00000000-0000-0000-0000-000000000002}'",
        "first_versions": "'{2}'",
        "saves": "'{0}'",
        "ids": "'{00000000-0000-0000-0000-000000000002}'",
        "versions": "'{2}'",
        "topics": "'{t}'",
        "states": "'{}'",
        "hash_ids": "'{}'",
        "hash_versions": "'{}'",
        "hashes": "'{}'",
        "previous": "'{}'",
    }
    arguments = ", ".join(values.get(name, "NULL") for name in names)
    with recorder.datastore.get_connection() as conn, conn.transaction():
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE append_checked AS {statement}")
        row = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE append_checked({arguments})").fetchone()
        conn.execute("DEALLOCATE append_checked")
    assert row is not None
    plan = json.dumps(next(iter(row.values())))
    scanned = re.findall(r'"Node Type": "Seq Scan"[^}]*?"Relation Name": "(\w+)"', plan)
    assert recorder.events_table_name not in scanned
    assert "Index Only Scan" in plan or "Index Scan" in plan
