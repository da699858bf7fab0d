"""One head watcher per process: on PostgreSQL it hears other processes' commits through
LISTEN/NOTIFY instead of reading the head; on SQLite it reads the head five times a second."""

from __future__ import annotations

import resource
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
    timers: list[threading.Timer] = []
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
        timers.append(threading.Timer(0.2, lambda: bell.send(b"\0")))
        timers[-1].start()
        started = time.monotonic()
        assert ours.wait(3.0, wake=ears) is None
        assert 0.15 < time.monotonic() - started < 1.5
        ears.recv(16)
        # An announcement wakes it at once.
        timers.append(threading.Timer(0.2, lambda: theirs.announce(41)))
        timers[-1].start()
        started = time.monotonic()
        assert ours.wait(3.0, wake=ears) == 41
        assert time.monotonic() - started < 1.5
    finally:
        for timer in timers:
            timer.join()
        ours.close()
        theirs.close()
        ears.close()
        bell.close()


@pytest.mark.postgres
def test_a_channel_waits_on_a_descriptor_past_a_thousand_and_twenty_four(
    postgres_cluster: PostgresServer,
) -> None:
    """A busy server holds thousands of sockets; the LISTEN connection may be one of the
    late ones, past what `select` can wait on."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard) < 1200:
        pytest.skip("this machine allows a process too few open files")
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    _, parts = parse_database_url(postgres_cluster.create_database())
    held = [socket.socket() for _ in range(1030)]  # the server's many clients
    ours, theirs = PostgresHeadChannel(parts), PostgresHeadChannel(parts)
    ears, bell = socket.socketpair()
    timers: list[threading.Timer] = []
    try:
        assert ours.wait(0.0, wake=ears) is None
        assert ears.fileno() > 1024
        timers.append(threading.Timer(0.2, lambda: theirs.announce(7)))
        timers[-1].start()
        assert ours.wait(3.0, wake=ears) == 7
    finally:
        for timer in timers:
            timer.join()
        for each in (*held, ears, bell):
            each.close()
        ours.close()
        theirs.close()
        if soft < 1200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
