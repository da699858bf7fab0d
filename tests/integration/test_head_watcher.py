"""One head watcher per process: on PostgreSQL it hears other processes' commits through
LISTEN/NOTIFY instead of reading the head; on SQLite it reads the head five times a second."""

from __future__ import annotations

import time

from tests.support.scenario import make_world
from tests.support.trio import ServicesFactory
from tris.application.opendata.notifier import HeadWatcher
from tris.domain.values import Sector


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
