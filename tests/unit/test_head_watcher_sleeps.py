"""The head watcher with a channel sleeps until something happens: an announcement of
another process, a commit of its own, its stop, or the fallback read of the head."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise

import pytest

from tris.application.opendata.notifier import ANNOUNCE_SECONDS, HeadWatcher


class Channel:
    """A channel whose other processes are the test: `other` writes announcements."""

    def __init__(self) -> None:
        self._theirs, self._ours = socket.socketpair()
        self.waits: list[float] = []
        self.announced: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def other(self, position: int) -> None:
        self._theirs.send(f"{position}\n".encode())

    def announce(self, position: int) -> None:
        with self.lock:
            self.announced.append((time.monotonic(), position))

    def wait(self, timeout: float, wake: socket.socket | None = None) -> int | None:
        with self.lock:
            self.waits.append(timeout)
        sockets = [self._ours] if wake is None else [self._ours, wake]
        readable, _, _ = select.select(sockets, [], [], timeout)
        if self._ours not in readable:
            return None
        return max(int(line) for line in self._ours.recv(4096).split())

    def close(self) -> None:
        """The connection would be dropped; the pair stays for the next use."""

    def shut(self) -> None:
        self._theirs.close()
        self._ours.close()


@pytest.fixture
def channel() -> Iterator[Channel]:
    made = Channel()
    yield made
    made.shut()


def until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


@contextmanager
def watching(channel: Channel, read_head: Callable[[], int] = lambda: 0) -> Iterator[HeadWatcher]:
    """A started watcher (once it waits for the first time), stopped after the block."""
    watcher = HeadWatcher(read_head, channel=channel, fallback=60)
    watcher.start()
    try:
        until(lambda: channel.waits)
        yield watcher
    finally:
        watcher.stop()


def test_an_idle_watcher_sleeps_until_its_fallback_read(channel: Channel) -> None:
    reads: list[float] = []

    def read_head() -> int:
        reads.append(time.monotonic())
        return 7

    with watching(channel, read_head) as watcher:
        time.sleep(0.5)  # ten slices of the old 50 ms wait
        assert len(channel.waits) == 1
        assert channel.waits[0] > 59
        assert len(reads) == 1
        assert watcher.head() == 7
        assert channel.announced == []


def test_the_watcher_hears_another_process_at_once(channel: Channel) -> None:
    with watching(channel, lambda: 3) as watcher:
        channel.other(41)
        until(lambda: watcher.head() == 41, seconds=1.0)
        assert watcher.head() == 41
        channel.other(12)  # an older announcement never takes the head back
        until(lambda: len(channel.waits) >= 3, seconds=1.0)
        assert watcher.head() == 41


def test_a_commit_of_this_process_wakes_the_watcher_to_announce_it(channel: Channel) -> None:
    with watching(channel) as watcher:
        committed_at = time.monotonic()
        watcher.committed(5)
        assert watcher.head() == 5  # known here at once
        until(lambda: channel.announced, seconds=1.0)
        assert [position for _, position in channel.announced] == [5]
        assert channel.announced[0][0] - committed_at < 0.5


def test_a_burst_of_commits_is_announced_at_most_once_per_interval(channel: Channel) -> None:
    with watching(channel) as watcher:
        started = time.monotonic()
        position = 0
        while time.monotonic() - started < 0.4:
            position += 1
            watcher.committed(position)
            time.sleep(0.001)
        until(lambda: [p for _, p in channel.announced[-1:]] == [position], seconds=1.0)
        times = [at for at, _ in channel.announced]
        positions = [announced for _, announced in channel.announced]
        assert positions[-1] == position  # the last commit is announced too
        assert positions == sorted(set(positions))
        # (At most one per interval; the half allows for a thread scheduled late on a busy
        # machine between deciding to announce and announcing.)
        assert all(b - a >= ANNOUNCE_SECONDS * 0.5 for a, b in pairwise(times))
        assert len(positions) <= 0.4 / ANNOUNCE_SECONDS + 2 < position
        # It woke for the announcements, not for every commit.
        assert len(channel.waits) < position / 4


def test_stopping_wakes_the_watcher(channel: Channel) -> None:
    with watching(channel) as watcher:
        started = time.monotonic()
        watcher.stop()
        assert time.monotonic() - started < 1.0
        assert not watcher.watching
        watcher.committed(9)  # after the stop: nothing to wake, no error
        assert channel.announced == []


def test_commits_of_many_threads_are_all_announced_promptly(channel: Channel) -> None:
    """Whatever the interleaving of commits and the watcher reading its alarm, the last
    commit of each burst is announced at once, never only at the fallback read."""
    counter = iter(range(1, 1_000_000))
    take = threading.Lock()
    with watching(channel) as watcher:

        def commit_some() -> None:
            for _ in range(25):
                with take:
                    position = next(counter)
                watcher.committed(position)

        for _ in range(20):
            threads = [threading.Thread(target=commit_some) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            last = watcher.head()
            until(lambda last=last: [p for _, p in channel.announced[-1:]] == [last], seconds=2.0)
            assert channel.announced[-1][1] == last


def test_a_watcher_without_a_channel_never_rings_on_a_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite: the watcher reads the head itself; a commit costs no alarm (and no lock)."""
    rung: list[bool] = []
    watcher = HeadWatcher(lambda: 0, interval=60)
    monkeypatch.setattr(watcher, "_ring", lambda always=False: rung.append(always))
    watcher.start()
    try:
        watcher.committed(4)
        assert watcher.head() == 4
        assert rung == []
    finally:
        watcher.stop()
    assert rung == [True]  # only the stop, which wakes whatever waits
