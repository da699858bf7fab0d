"""Group commit on PostgreSQL: commands that save together share one transaction, and a
command that loses its version in that transaction fails alone."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from tests.support.concurrency import joined
from tests.support.integrity import integrity_settings
from tests.support.scenario import draft, make_world
from tris.application.errors import ConcurrentUpdateError
from tris.application.integrity.keys import write_new_key
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.bootstrap import Services, build
from tris.domain.values import Sector
from tris.storage.cursors import PipelinedTransaction, implicit_transaction
from tris.storage.follow_up import FollowUp
from tris.storage.group_commit import Write
from tris.storage.idempotency import IdempotencyRecord
from tris.storage.postgres_parallel import ParallelPostgresRecorder
from tris.storage.schema import STALE_READ


def open_services(url: str, key: Path) -> Services:
    settings = integrity_settings(url, key.parent, server_key_file=str(key))
    return build(settings, today=lambda: date(2026, 6, 1))


@pytest.fixture
def url(postgres_cluster: Any) -> str:
    return str(postgres_cluster.create_database())


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "server.key"
    write_new_key(path)
    return path


@pytest.fixture
def services(url: str, key: Path) -> Iterator[Services]:
    built = open_services(url, key)
    yield built
    built.close()


def recorder_of(services: Services) -> ParallelPostgresRecorder:
    recorder = services.store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)
    return recorder


def test_a_conflicting_command_fails_alone_and_its_batch_commits(
    services: Services, url: str, key: Path
) -> None:
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    agreements = services.agreements
    contested = agreements.propose(firm.ctx(), draft(firm, assoc, title="Umstritten")).body["id"]

    group = recorder_of(services).group
    commit = group._commit
    held, release = threading.Event(), threading.Event()
    batches: list[int] = []

    def hold_first(batch: list[Write]) -> None:
        batches.append(len(batch))
        if len(batches) == 1:
            held.set()
            assert release.wait(20)
        commit(batch)

    group._commit = hold_first
    outcomes: dict[str, Any] = {}

    def run(name: str, work: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                outcomes[name] = work()
            except Exception as error:  # what this command answered
                outcomes[name] = error

        thread = threading.Thread(target=guarded, name=name)
        thread.start()
        return thread

    first = run("first", lambda: agreements.propose(firm.ctx(), draft(firm, assoc, title="0")))
    assert held.wait(20)
    proposals = [
        run(f"p{n}", lambda n=n: agreements.propose(firm.ctx(), draft(firm, assoc, title=f"{n}")))
        for n in range(5)
    ]
    # Decided on version 1 of the contested agreement, queued behind the held batch ...
    decline = run("decline", lambda: agreements.decline(assoc.ctx(), contested, "nein"))
    while len(group._queue) < 6:
        threading.Event().wait(0.01)
    # ... while another process withdraws it (version 2) and commits.
    other = open_services(url, key)
    try:
        other.agreements.withdraw(firm.ctx(), contested, "zurückgezogen")
    finally:
        other.close()
    release.set()
    joined(first, *proposals, decline)

    assert batches == [1, 6]  # the five proposals and the decline shared one transaction
    assert isinstance(outcomes["decline"], ConcurrentUpdateError)
    created = [outcomes[f"p{n}"] for n in range(5)]
    assert all(o.status == 201 and o.position is not None for o in created)
    stored = [type(e).__name__ for e in services.store.events(UUID(contested))]
    assert stored == ["Proposed", "Withdrawn"]
    for outcome in created:
        assert services.store.agreement(outcome.body["id"]).version == 1
    # Positions are dense, every chain and the Merkle log check out.
    recorder = recorder_of(services)
    seen = [n.id for n in recorder.select_notifications(start=None, limit=10_000)]
    assert seen == list(range(1, len(seen) + 1))
    services.integrity.issue_checkpoint()
    report = services.integrity.audit()
    assert report.ok, report.findings


def test_concurrent_commands_each_see_their_own_write(
    services: Services,
) -> None:
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    group = recorder_of(services).group
    before = (group.batches, group.saves)  # this process's saves
    errors: list[BaseException] = []
    ids: list[str] = []

    def propose(n: int) -> None:
        try:
            for i in range(5):
                outcome = services.agreements.propose(
                    firm.ctx(), draft(firm, assoc, title=f"T{n}-{i}")
                )
                ids.append(outcome.body["id"])
                listed = services.queries.agreements(firm.principal, AgreementFilter(), limit=100)
                assert outcome.body["id"] in {item["id"] for item in listed["items"]}
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=propose, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    joined(*threads)
    assert errors == []
    assert group.saves - before[1] == 40
    assert len(set(ids)) == 40


def test_a_save_alone_learns_its_positions_in_its_own_round_trip(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorder_of(services)
    calls: list[int] = []
    locate = recorder._sequence_and_locate

    def counted(*args: Any) -> Any:
        calls.append(1)
        return locate(*args)

    monkeypatch.setattr(recorder, "_sequence_and_locate", counted)
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    calls.clear()  # a registration claims a key: its save runs as before
    created = services.agreements.propose(firm.ctx(), draft(firm, assoc))
    # The sequencer's call went out with the save (BEGIN, the save, COMMIT, the call):
    # no call of its own, and the positions are the stored ones.
    assert calls == []
    stored = services.store.log.notifications(created.position - 1, 1)
    assert [(str(n.originator_id), n.id) for n in stored] == [
        (created.body["id"], created.position)
    ]
    assert services.store.log.head() == created.position


def stored(aggregate_id: UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(aggregate_id, version, "tests.batch:Noted", b'{"n":1}')


def batch_of(*saves: tuple[list[StoredEvent], dict[str, Any]]) -> list[Write]:
    return [
        Write((events, kwargs), frozenset(e.originator_id for e in events))
        for events, kwargs in saves
    ]


def commit_and_settle(recorder: ParallelPostgresRecorder, batch: list[Write]) -> None:
    recorder._commit_batch(batch)
    recorder._settle_batch([write for write in batch if write.error is None])


def test_a_batch_is_written_in_one_pipelined_transaction_with_its_positions(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorder_of(services)
    known = uuid4()
    commit_and_settle(recorder, batch_of(([stored(known)], {})))

    def not_one_by_one(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a save written on its own")

    monkeypatch.setattr(recorder, "_write_one", not_one_by_one)
    monkeypatch.setattr(recorder, "_write_alone", not_one_by_one)
    monkeypatch.setattr(recorder, "_sequence_and_locate", not_one_by_one)
    fresh = [uuid4() for _ in range(3)]
    # The last save's command read `known` at version 0: it has moved since, so that save
    # writes nothing and fails alone; the others commit and learn their positions from
    # the sequencer's call that went out with them.
    batch = batch_of(
        ([stored(fresh[0])], {}),
        ([stored(known, 2), stored(fresh[1])], {}),
        ([stored(fresh[2])], {"read_versions": [(known, 0)]}),
    )
    commit_and_settle(recorder, batch)

    assert [write.error is None for write in batch] == [True, True, False]
    assert isinstance(batch[2].error, IntegrityError)
    assert str(batch[2].error) == STALE_READ
    log = {
        (n.originator_id, n.originator_version): n.id
        for n in recorder.select_notifications(None, 100)
    }
    assert sorted(log.values()) == [1, 2, 3, 4]
    assert batch[0].result == [log[(fresh[0], 1)]]
    assert batch[1].result == [log[(known, 2)], log[(fresh[1], 1)]]
    assert (fresh[2], 1) not in log
    assert recorder.select_events(fresh[2]) == []


def test_a_batch_is_one_statement_and_a_read_of_what_an_earlier_save_writes_is_stale(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorder_of(services)
    known, other = uuid4(), uuid4()
    commit_and_settle(recorder, batch_of(([stored(known)], {}), ([stored(other)], {})))
    statements: list[bytes] = []
    execute = psycopg.Cursor.execute

    def counted(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(query)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    fresh = [uuid4() for _ in range(2)]

    def kept(key: str) -> dict[str, Any]:
        record = IdempotencyRecord("token-1", key, f"print-{key}", 201, {"key": key})
        return {"idempotency": record}

    # The second save's command read `known` at its stored version, which the first save
    # of the same batch moves on: as if the batch were written save by save, the second
    # is stale and writes nothing, not even its idempotency record; the third read
    # `other`, which nothing moved, and is written.
    batch = batch_of(
        ([stored(known, 2)], kept("first")),
        ([stored(fresh[0])], {"read_versions": [(known, 1)], **kept("second")}),
        ([stored(fresh[1])], {"read_versions": [(other, 1)], **kept("third")}),
    )
    commit_and_settle(recorder, batch)

    assert statements.count(recorder._append_sql) == 1
    assert [write.error is None for write in batch] == [True, False, True]
    assert str(batch[1].error) == STALE_READ
    assert [e.originator_version for e in recorder.select_events(known)] == [1, 2]
    assert recorder.select_events(fresh[0]) == []
    assert len(recorder.select_events(fresh[1])) == 1
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute("SELECT idem_key, status, body FROM tris_idempotency ORDER BY idem_key")
        records = [(r["idem_key"], r["status"], r["body"]) for r in curs]
    assert records == [("first", 201, '{"key":"first"}'), ("third", 201, '{"key":"third"}')]


@pytest.mark.parametrize("alone", [False, True])
def test_a_save_learns_its_own_positions_not_its_aggregates_whole_history(
    services: Services, monkeypatch: pytest.MonkeyPatch, alone: bool
) -> None:
    """A save's positions come with its statement; when they must be looked up (a batch
    settled without them), the sequencer's call looks the batch's events up by aggregate
    and version: what it answers does not grow with the history of a long-lived aggregate
    (a network's membership graph, an agreement with thousands of fulfilments)."""
    recorder = recorder_of(services)
    long_lived = uuid4()
    for version in range(1, 41):
        commit_and_settle(recorder, batch_of(([stored(long_lived, version)], {})))
    answered: list[int] = []
    located = recorder._located

    def counted(curs: Any, events: Any, began: float) -> Any:
        answered.append(curs.rowcount)
        return located(curs, events, began)

    monkeypatch.setattr(recorder, "_located", counted)
    batch = batch_of(([stored(long_lived, 41), stored(long_lived, 42)], {}))
    if alone:  # positions not brought by the save's round trip: asked when it is settled
        recorder._commit_batch(batch)
        for write in batch:
            write.extra.pop("positions", None)
        recorder._settle_batch(batch)
    else:
        commit_and_settle(recorder, batch)

    log = {n.originator_version: n.id for n in recorder.select_notifications(None, 100)}
    assert batch[0].result == [log[41], log[42]]
    if alone:
        # Its two events and the row with the highest position numbered so far.
        assert answered == [3]
    else:
        # The save's own statement gave the positions (ADR 41): nothing looked up.
        assert answered == []


def test_a_save_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits(
    services: Services,
) -> None:
    recorder = recorder_of(services)
    known = uuid4()
    commit_and_settle(recorder, batch_of(([stored(known)], {})))
    fresh = [uuid4() for _ in range(2)]
    # Version 1 of `known` is taken: the pipelined transaction fails, and the batch is
    # written once more with a savepoint per save.
    batch = batch_of(([stored(fresh[0])], {}), ([stored(known)], {}), ([stored(fresh[1])], {}))
    commit_and_settle(recorder, batch)

    assert [write.error is None for write in batch] == [True, False, True]
    assert isinstance(batch[1].error, IntegrityError)
    ids = [n.id for n in recorder.select_notifications(None, 100)]
    assert ids == [1, 2, 3]
    assert batch[0].result is not None and batch[2].result is not None
    assert len(recorder.select_events(known)) == 1
    assert all(len(recorder.select_events(i)) == 1 for i in fresh)


@pytest.mark.parametrize("saves", [1, 3])
def test_saves_stand_when_the_statements_after_their_commit_fail(
    services: Services, monkeypatch: pytest.MonkeyPatch, saves: int
) -> None:
    recorder = recorder_of(services)
    # The read models' statements that go out after COMMIT in the same round trip fail
    # (a claim refused, say): the saves committed, so they stand, with the positions
    # their statement gave them.
    monkeypatch.setattr(recorder, "_follow_up", lambda *args: [(b"SELECT 1 / 0", ())])
    fresh = [uuid4() for _ in range(saves)]
    batch = batch_of(*(([stored(i)], {}) for i in fresh))
    commit_and_settle(recorder, batch)

    assert [write.error for write in batch] == [None] * saves
    log = {n.originator_id: n.id for n in recorder.select_notifications(None, 100)}
    assert [write.result for write in batch] == [[log[i]] for i in fresh]
    assert sorted(log.values()) == list(range(1, saves + 1))


def store_connection(services: Services) -> psycopg.Connection[Any]:
    """A connection opened as the store's pool opens them, in autocommit mode."""
    pool = recorder_of(services).datastore.pool
    conn = psycopg.connect(pool.conninfo, **pool.kwargs)
    conn.autocommit = True
    conn.execute("CREATE TEMPORARY TABLE probe (n integer)")
    return conn


def probed(conn: psycopg.Connection[Any]) -> list[int]:
    return [row["n"] for row in conn.execute("SELECT n FROM probe ORDER BY n")]


def test_a_statement_a_failed_pipeline_skipped_runs_again_later(services: Services) -> None:
    """A statement that a failure ahead of it in a pipeline kept from running is not taken
    for prepared: it runs again afterwards. (psycopg, preparing a statement at its n-th
    run, took it for prepared without checking that the server had skipped it, and every
    later run on that connection failed with "prepared statement … does not exist".)"""
    with store_connection(services) as conn:
        for attempt in range(12):
            divisor = 1 if attempt == 0 else 0  # the first run succeeds, the others fail
            with (
                contextlib.suppress(psycopg.errors.DivisionByZero),
                PipelinedTransaction(conn) as transaction,
                conn.cursor() as behind,
            ):
                conn.execute("INSERT INTO probe VALUES (%s)", (attempt,))
                transaction.commit()
                behind.execute("SELECT 1 / %s", (divisor,))
                behind.execute("UPDATE probe SET n = n + 100 WHERE n = %s", (attempt,))
        conn.execute("UPDATE probe SET n = n + 100 WHERE n = %s", (1,))
        assert probed(conn) == [*range(2, 12), 100, 101]


@pytest.mark.parametrize("prepare", [None, True])
def test_statements_after_a_block_rolled_back_in_a_pipeline_run_again(
    services: Services, prepare: bool | None
) -> None:
    """A block that raises in a pipeline is rolled back by a ROLLBACK sent before the
    sync; the statements the connection runs next, new to it or prepared before, run
    again and again. (psycopg deallocated every prepared statement at the end of the
    statement after such a ROLLBACK — once that statement had been prepared: its later
    runs failed with "prepared statement … does not exist".)"""
    with store_connection(services) as conn:
        conn.execute("INSERT INTO probe VALUES (%s)", (0,), prepare=prepare)
        with contextlib.suppress(ZeroDivisionError), implicit_transaction(conn):
            conn.execute("INSERT INTO probe VALUES (%s)", (-1,), prepare=prepare)
            raise ZeroDivisionError
        for n in range(1, 4):
            conn.execute("INSERT INTO probe VALUES (%s)", (n,), prepare=prepare)
            conn.execute("UPDATE probe SET n = n + 10 WHERE n = %s", (n,), prepare=prepare)
        assert probed(conn) == [0, 11, 12, 13]


def test_batches_after_a_follow_up_refused_before_sending_commit(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up statement psycopg refuses to send (a value it cannot adapt) is rolled
    back with the numbering after the batch's COMMIT; the batches after it, on the same
    connections, still commit and learn their positions."""
    recorder = recorder_of(services)
    refused: list[bool] = []

    def unsendable(first: int, pairs: Any) -> FollowUp:
        return FollowUp([("SELECT %s::integer", (object(),))], refused.append)

    monkeypatch.setattr(recorder, "follow_up", unsendable)
    saved: list[UUID] = []
    for _ in range(12):
        fresh = uuid4()
        batch = batch_of(([stored(fresh)], {"saved_events": [None]}))
        commit_and_settle(recorder, batch)
        assert batch[0].error is None
        saved.append(fresh)
    assert refused and not any(refused)  # sent after right predictions, never committed
    log = [n.originator_id for n in recorder.select_notifications(None, 100)]
    assert log == saved
