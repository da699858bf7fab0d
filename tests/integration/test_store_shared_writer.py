"""One writer among a server's processes (ADR 38): the first process to save writes for
every process sharing its directory; the others forward their saves and get each save's
own answer back. Two services on one database stand for two API processes."""

from __future__ import annotations

import fcntl
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import OperationalError

from tests.support.http import build_services
from tests.support.scenario import Member, draft, make_world
from tris.application.errors import VersionMismatchError
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.application.store import CommandContext, IdempotencyRequest
from tris.bootstrap import Services
from tris.config import ConfigurationError
from tris.demo import load_demo
from tris.domain.values import Sector
from tris.storage.errors import WriterGoneError
from tris.storage.postgres_parallel import ParallelPostgresRecorder
from tris.storage.writer import SharedWriter


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    directory = tmp_path / "writer"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def pair(database_url: str, shared: Path) -> Iterator[tuple[Services, Services]]:
    first = build_services(database_url, writer_dir=str(shared))
    second = build_services(database_url, writer_dir=str(shared))
    yield first, second
    second.close()
    first.close()


@pytest.fixture
def on_postgres(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite is served by one process: there is no writer to share")


def recorder_of(services: Services) -> ParallelPostgresRecorder:
    recorder = services.store.log.app.recorder
    assert isinstance(recorder, ParallelPostgresRecorder)
    return recorder


def writer_of(services: Services) -> SharedWriter:
    writer = recorder_of(services).shared
    assert writer is not None
    return writer


def two_parties(services: Services) -> tuple[Member, Member]:
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    return firm, assoc


def test_processes_sharing_a_writer_each_see_their_own_writes(
    database_url: str, pair: tuple[Services, Services]
) -> None:
    first, second = pair
    firm, assoc = two_parties(first)  # the first process saves first
    ids = []
    for n, services in enumerate((first, second, second, first, second)):
        outcome = services.agreements.propose(firm.ctx(), draft(firm, assoc, title=f"T{n}"))
        assert outcome.status == 201 and outcome.position is not None
        ids.append(outcome.body["id"])
        # Read your writes: the process that answered lists it at once.
        listed = services.queries.agreements(firm.principal, AgreementFilter(), limit=100)
        assert outcome.body["id"] in {item["id"] for item in listed["items"]}
    second.agreements.decline(assoc.ctx(), ids[0], "nein")
    assert [type(e).__name__ for e in first.store.events(UUID(ids[0]))] == [
        "Proposed",
        "Declined",
    ]
    positions = [n.id for n in first.store.log.notifications(None, 10_000)]
    assert positions == list(range(1, len(positions) + 1))
    assert first.projections.digest() == second.projections.digest()
    if database_url.startswith("postgresql"):
        # One process wrote every batch; the other sent its four saves to it.
        assert writer_of(first).is_writer and not writer_of(second).is_writer
        assert recorder_of(second).group.batches == 0
        assert writer_of(second).forwarded == 4
        assert writer_of(first).served == 4


def test_every_kind_of_command_is_saved_through_the_writer(
    on_postgres: None, pair: tuple[Services, Services]
) -> None:
    # The demo plays parties, keys, agreements, amendments, fulfilments, markets and
    # networks: every event type the domain has goes through the socket and back.
    first, second = pair
    two_parties(first)  # the first process saves first: it is the writer
    load_demo(second)
    assert writer_of(second).forwarded > 50 and recorder_of(second).group.batches == 0
    positions = [n.id for n in first.store.log.notifications(None, 100_000)]
    assert positions == list(range(1, len(positions) + 1))
    assert first.projections.digest() == second.projections.digest()
    first.integrity.issue_checkpoint()
    report = first.integrity.audit()
    assert report.ok, report.findings


def test_a_forwarded_save_gets_its_own_refusal_and_its_own_replay(
    on_postgres: None, pair: tuple[Services, Services]
) -> None:
    first, second = pair
    firm, assoc = two_parties(first)
    proposed = first.agreements.propose(firm.ctx(), draft(firm, assoc)).body["id"]
    first.agreements.decline(assoc.ctx(), proposed, "nein")  # version 2 now
    with pytest.raises(VersionMismatchError):
        second.agreements.withdraw(firm.ctx(expected_version=1), proposed, "zu spät")
    request = IdempotencyRequest("shared-1", "fingerprint", 201)
    ctx = CommandContext(firm.principal.actor, idempotency=request)
    once = second.agreements.propose(ctx, draft(firm, assoc, title="Einmal"))
    again = second.agreements.propose(ctx, draft(firm, assoc, title="Einmal"))
    assert again.replayed and again.body["id"] == once.body["id"]
    titles = first.queries.agreements(firm.principal, AgreementFilter(), limit=100)["items"]
    assert [item["title"] for item in titles].count("Einmal") == 1
    assert writer_of(second).forwarded >= 1


def test_the_writer_announces_a_forwarded_save_and_its_saver_knows_it_at_once(
    on_postgres: None, pair: tuple[Services, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One NOTIFY (a durable commit of its own) for a forwarded save, from the writer,
    # not one from each process: the saver learns its head from its own save.
    first, second = pair
    firm, assoc = two_parties(first)  # the first process saves first: it is the writer
    announced: dict[str, list[int]] = {"first": [], "second": []}
    for name, services in (("first", first), ("second", second)):
        channel = services.head_watcher.channel
        assert channel is not None
        monkeypatch.setattr(channel, "announce", announced[name].append)
        services.head_watcher.start()
    try:
        outcome = second.agreements.propose(firm.ctx(), draft(firm, assoc))
        assert outcome.position is not None and writer_of(second).forwarded == 1
        assert second.head_watcher.head() >= outcome.position
        deadline = time.monotonic() + 5
        while max(announced["first"], default=0) < outcome.position:
            assert time.monotonic() < deadline, announced
            time.sleep(0.01)
        time.sleep(0.2)  # past the watchers' pause between two announcements
        assert announced["second"] == []
    finally:
        second.head_watcher.stop()
        first.head_watcher.stop()


def test_when_the_writer_stops_the_next_save_elects_another(
    on_postgres: None, database_url: str, shared: Path
) -> None:
    first = build_services(database_url, writer_dir=str(shared))
    second = build_services(database_url, writer_dir=str(shared))
    try:
        firm, assoc = two_parties(first)
        second.agreements.propose(firm.ctx(), draft(firm, assoc, title="Vorher"))
        assert writer_of(second).forwarded == 1
        first.close()  # its lock and socket go with it
        after = second.agreements.propose(firm.ctx(), draft(firm, assoc, title="Nachher"))
        assert after.status == 201
        assert writer_of(second).is_writer
        assert recorder_of(second).group.batches >= 1
        listed = second.queries.agreements(firm.principal, AgreementFilter(), limit=100)
        assert {item["title"] for item in listed["items"]} >= {"Vorher", "Nachher"}
    finally:
        second.close()
        first.close()


def test_a_save_whose_writer_goes_away_fails_as_unavailable_and_saves_nothing(
    on_postgres: None, database_url: str, shared: Path
) -> None:
    services = build_services(database_url, writer_dir=str(shared))
    firm, assoc = two_parties(services)  # this process is the writer ...
    services.store.log.app.recorder.shared.close()  # type: ignore[attr-defined]
    recorder_of(services).shared = SharedWriter(shared, recorder_of(services).group.submit)
    # ... until another holds the lock: a writer that reads each save and dies.
    lock = (shared / "writer.lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(shared / "writer.sock"))
    server.listen(8)

    def dying_writer() -> None:
        connection, _ = server.accept()
        connection.recv(1 << 20)
        connection.close()

    dying = threading.Thread(target=dying_writer)
    dying.start()
    try:
        head = services.store.log.head()
        with pytest.raises(WriterGoneError):
            services.agreements.propose(firm.ctx(), draft(firm, assoc, title="Verloren"))
        dying.join(10)
        assert services.store.log.head() == head  # nothing saved
        # The dead writer's lock is free again: the next save elects this process.
        server.close()
        lock.close()
        saved = services.agreements.propose(firm.ctx(), draft(firm, assoc, title="Gerettet"))
        assert saved.status == 201 and services.store.log.head() > head
        assert writer_of(services).is_writer
    finally:
        server.close()
        lock.close()
        services.close()


def test_an_error_the_writer_cannot_send_back_reaches_the_saver_as_unavailable(
    on_postgres: None, pair: tuple[Services, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = pair
    firm, assoc = two_parties(first)
    writer = writer_of(first)

    class UnsendableError(Exception):
        """Holds a lock: it does not pickle."""

        def __init__(self) -> None:
            super().__init__("a failure deep in the writer")
            self.lock = threading.Lock()

    def failing(payload: object, keys: object) -> object:
        raise UnsendableError

    monkeypatch.setattr(writer, "_submit", failing)
    with pytest.raises(OperationalError, match="UnsendableError: a failure deep in the writer"):
        second.agreements.propose(firm.ctx(), draft(firm, assoc, title="Nie"))
    monkeypatch.undo()
    assert second.agreements.propose(firm.ctx(), draft(firm, assoc, title="Doch")).status == 201


def test_a_writer_directory_other_users_could_open_is_refused(
    on_postgres: None, database_url: str, tmp_path: Path
) -> None:
    # Whoever reaches the socket exchanges pickles with the processes: it must be private.
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o755)
    with pytest.raises(ConfigurationError, match="open to other users"):
        build_services(database_url, writer_dir=str(directory))
    with pytest.raises(ConfigurationError, match="unusable"):
        build_services(database_url, writer_dir=str(tmp_path / "missing"))
    deep = tmp_path / ("w" * 120)
    deep.mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="too long a path"):
        build_services(database_url, writer_dir=str(deep))
