"""One watcher of the log's head per process, and a cap on each token's open streams.

Live streams used to poll the database each, five times a second: a thousand followers
cost five thousand queries a second. Now one thread per process knows the head, and every
stream compares its position with that number in memory, whatever the number of streams.
A command committed in this process tells the watcher at once. On PostgreSQL the watcher
hears the other processes' commits through LISTEN/NOTIFY and announces its own (after they
commit, never inside a write transaction: ADR 18), reading the head itself only every few
seconds in case a notification was lost; on SQLite it reads the head every 0.2 s.

On PostgreSQL the watcher sleeps until something happens: it waits on the LISTEN
connection's socket and on a socket of its own that a commit of this process (or `stop`)
writes one byte to. An idle process costs nothing; a busy one announces at most once per
`ANNOUNCE_SECONDS`, each announcement covering every commit since the one before.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Protocol

from tris.application.errors import StreamLimitError

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.2
# With a channel: the least time between two announcements of this process's commits, and
# how often the head is read all the same.
ANNOUNCE_SECONDS = 0.05
FALLBACK_SECONDS = 5.0


class HeadChannel(Protocol):
    """Announcements of the log's head between processes (PostgreSQL's LISTEN/NOTIFY)."""

    def announce(self, position: int) -> None:
        """Tell the other processes the log reaches `position`."""

    def wait(self, timeout: float, wake: socket.socket | None = None) -> int | None:
        """The highest position announced within `timeout` seconds, or None; returns early
        (None) once `wake` is readable."""

    def close(self) -> None:
        """Release the channel's connection."""


class HeadWatcher:
    """The latest position of the log this process knows, kept by one thread."""

    def __init__(
        self,
        head: Callable[[], int],
        interval: float = WATCH_SECONDS,
        channel: HeadChannel | None = None,
        fallback: float = FALLBACK_SECONDS,
    ) -> None:
        self._read_head = head
        self.interval = interval
        self.channel = channel
        self.fallback = fallback
        self._own = 0
        self._head = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The watcher's alarm: written (one byte, once until the watcher reads it) on a commit
        # of this process and on `stop`; read by the watcher beside the LISTEN connection.
        # (Its own lock: the commits' lock is never held across a system call.)
        self._alarm: tuple[socket.socket, socket.socket] | None = None
        self._alarmed = False
        self._alarm_lock = threading.Lock()

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        if self.channel is not None:
            ears, bell = socket.socketpair()
            ears.setblocking(False)
            bell.setblocking(False)
            with self._alarm_lock:
                self._alarm, self._alarmed = (ears, bell), False
        self._thread = threading.Thread(target=self._run, name="tris-head-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; `head` reads the database itself from then on."""
        self._stop.set()
        self._ring(always=True)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        if self.channel is not None:
            self.channel.close()
        with self._alarm_lock:
            alarm, self._alarm = self._alarm, None
            for end in alarm or ():
                end.close()

    @property
    def watching(self) -> bool:
        """True while the watcher thread runs."""
        return self._thread is not None

    def head(self) -> int:
        """The latest known position: from memory while watching, else from the database."""
        if not self.watching:
            self._heard(self._read_head())
        with self._lock:
            return self._head

    def committed(self, position: int | None, *, announced_elsewhere: bool = False) -> None:
        """A command of this process committed up to `position`: known at once here, and
        announced to the other processes by the watcher — unless `announced_elsewhere`:
        the process that committed it for this one (ADR 38's writer) announces it."""
        if position is None:
            return
        if announced_elsewhere:
            self._heard(position)
            return
        with self._lock:
            self._own = max(self._own, position)
            self._head = max(self._head, position)
        # Without a channel (SQLite) there is nothing to announce and no alarm to ring;
        # `_alarmed` is read without a lock: most commits find the alarm rung.
        if self.channel is not None and not self._alarmed:
            self._ring()

    def _ring(self, always: bool = False) -> None:
        """Wake the watcher: one byte until it has read it (commits coalesce). A commit
        that finds the alarm rung needs no byte of its own: its position was recorded
        before it looked, and the watcher reads the positions after silencing the alarm."""
        with self._alarm_lock:
            if self._alarm is None or (self._alarmed and not always):
                return
            self._alarmed = True
            # A full buffer (OSError) holds bytes already: the watcher wakes all the same.
            with suppress(OSError):
                self._alarm[1].send(b"\0")

    def _silence(self, ears: socket.socket) -> None:
        """Read the alarm's bytes, then let commits ring again (in this order: a byte
        rung after the reading wakes the watcher once more, needlessly but harmlessly;
        the other order could leave the alarm marked rung with no byte to wake it)."""
        with suppress(OSError):  # raised once nothing more is there to read
            while ears.recv(4096):
                pass
        with self._alarm_lock:
            self._alarmed = False

    def _heard(self, position: int | None) -> None:
        if position is None:
            return
        with self._lock:
            self._head = max(self._head, position)

    def _run(self) -> None:
        if self.channel is None:
            self._poll()
        else:
            self._listen(self.channel)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self._heard(self._read_head())
            except Exception as error:  # an outage passes; the streams wait meanwhile
                log.warning("head watcher: cannot read the log's head: %s", error)
            self._stop.wait(self.interval)

    def _listen(self, channel: HeadChannel) -> None:
        with self._alarm_lock:
            alarm = self._alarm
        if alarm is None:  # stopped before it started
            return
        ears = alarm[0]
        wake: socket.socket | None
        announced, last_read, last_announced = 0, float("-inf"), float("-inf")
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - last_read >= self.fallback:
                    self._heard(self._read_head())
                    last_read = now = time.monotonic()
                with self._lock:
                    own = self._own
                if own > announced and now - last_announced >= ANNOUNCE_SECONDS:
                    channel.announce(own)
                    announced, last_announced = own, now
                timeout, wake = last_read + self.fallback - now, ears
                if own > announced:  # announced too recently: the next one is due soon, and
                    # covers the commits until then without waking for each of them
                    timeout, wake = min(timeout, last_announced + ANNOUNCE_SECONDS - now), None
                heard = channel.wait(max(timeout, 0.0), wake=wake)
                self._silence(ears)
                self._heard(heard)
            except Exception as error:  # an outage passes; the streams wait meanwhile
                log.warning("head watcher: cannot hear the log's head: %s", error)
                channel.close()
                last_read = float("-inf")
                self._stop.wait(self.interval)


class StreamSlots:
    """How many streams (live, NDJSON, exports) each token holds open in this process."""

    def __init__(self, per_token: int) -> None:
        self.per_token = per_token
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open_for(self, token_id: str) -> int:
        """The streams the token holds open now."""
        with self._lock:
            return self._open.get(token_id, 0)

    def take(self, token_id: str) -> None:
        """Take a slot, or StreamLimitError when the token holds `per_token` already."""
        with self._lock:
            held = self._open.get(token_id, 0)
            if held >= self.per_token:
                raise StreamLimitError(
                    f"this token holds {held} streams open, the most allowed; close one "
                    "before opening another"
                )
            self._open[token_id] = held + 1

    def give_back(self, token_id: str) -> None:
        """Release a slot taken before."""
        with self._lock:
            held = self._open.get(token_id, 0) - 1
            if held > 0:
                self._open[token_id] = held
            else:
                self._open.pop(token_id, None)

    @contextmanager
    def slot(self, token_id: str) -> Iterator[bool]:
        """Take a slot for the duration of the block and give it back after; the block gets
        False (and holds nothing) when the token holds all its slots already."""
        try:
            self.take(token_id)
        except StreamLimitError:
            yield False
            return
        try:
            yield True
        finally:
            self.give_back(token_id)


class Revalidation:
    """Asks at most once per `seconds` whether a token is still valid (for long streams)."""

    def __init__(self, still_valid: Callable[[], bool], seconds: float = 1.0) -> None:
        self._still_valid = still_valid
        self._seconds = seconds
        self._checked = time.monotonic()
        self._valid = True

    def valid(self) -> bool:
        """False once the token was found revoked; asks again after `seconds`."""
        if self._valid and time.monotonic() - self._checked >= self._seconds:
            self._checked = time.monotonic()
            self._valid = self._still_valid()
        return self._valid
