"""One head watcher per process: on PostgreSQL it hears other processes' commits through
LISTEN/NOTIFY instead of reading the head; on SQLite it reads the head five times a second."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support.postgres import PostgresServer
from tests.support.scenario import make_world
from tests.support.trio import ServicesFactory
from tris.application.opendata.notifier import HeadWatcher
from tris.config import parse_database_url
from tris.domain.values import Sector
from tris.storage.notify import PostgresHeadChannel


def test_a_commit_in_one_process_reaches_the_watcher_of_another(
    open_services: ServicesFactory,
) -> None:
    writer, reader = open_services(), open_services()
    writer.head_watcher.start()  # announces the writer's commits (PostgreSQL)
    reads: list[float] = []

    def read_head() -> int:
        reads.append(time.monotonic())
        return reader.store.log.head()

    channel = reader.store.log.head_channel()
    watcher = HeadWatcher(read_head, channel=channel, fallback=60.0)
    watcher.start()
    try:
        # Started: it has read the head once, and (PostgreSQL) listens for announcements.
        deadline = time.monotonic() + 10
        while not reads and time.monotonic() < deadline:
            time.sleep(0.01)
        assert channel is None or channel.listening.wait(timeout=10)
        before, reads_before = watcher.head(), len(reads)
        make_world(writer).add("Kiezbäckerei GmbH", Sector.BUSINESS)
        committed = writer.store.log.head()
        assert committed > before
        deadline = time.monotonic() + 2.0
        while watcher.head() < committed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.head() == committed
        if channel is None:  # SQLite: it read the head to learn it
            assert len(reads) > reads_before
        else:  # PostgreSQL: it heard it, and read the head only when it started
            assert len(reads) == reads_before == 1
    finally:
        watcher.stop()
        writer.head_watcher.stop()


@pytest.mark.postgres
def test_a_channel_sleeps_on_its_socket_and_hears_what_arrived_while_it_spoke(
    postgres_cluster: PostgresServer,
) -> None:
    _, parts = parse_database_url(postgres_cluster.create_database())
    ours, theirs = PostgresHeadChannel(parts), PostgresHeadChannel(parts)
    ears, bell = socket.socketpair()
    try:
        assert ours.wait(0.0) is None  # listening from here on
        # Another process announces; then this one announces while that is on its way: the
        # other's announcement (and its own) reach psycopg during the statement, not the
        # socket, and must be heard all the same, without sleeping on a silent socket.
        theirs.announce(40)
        time.sleep(0.2)
        ours.announce(12)
        started = time.monotonic()
        assert ours.wait(3.0, wake=ears) == 40
        assert time.monotonic() - started < 1.0
        # Nothing more announced: the wait sleeps until woken.
        threading.Timer(0.2, lambda: bell.send(b"\0")).start()
        started = time.monotonic()
        assert ours.wait(3.0, wake=ears) is None
        assert 0.15 < time.monotonic() - started < 1.5
        ears.recv(16)
        # An announcement wakes it at once.
        threading.Timer(0.2, lambda: theirs.announce(41)).start()
        started = time.monotonic()
        assert ours.wait(3.0, wake=ears) == 41
        assert time.monotonic() - started < 1.5
    finally:
        ours.close()
        theirs.close()
        ears.close()
        bell.close()
