"""One watcher of the log's head per process, and a cap on each token's open streams.

Live streams used to poll the database each, five times a second: a thousand followers
cost five thousand queries a second. Now one thread per process reads the head (and a
command committed in this process tells it at once), and every stream compares its
position with that number in memory: the database sees one query per interval, whatever
the number of streams. (PostgreSQL's LISTEN/NOTIFY would save that query too, but a NOTIFY
in every write transaction takes a lock that serialises commits, which the parallel write
path exists to avoid; ADR 18.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tris.application.errors import StreamLimitError

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.2


class HeadWatcher:
    """The latest position of the log this process knows, read by one thread."""

    def __init__(self, head: Callable[[], int], interval: float = WATCH_SECONDS) -> None:
        self._read_head = head
        self.interval = interval
        self._head = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tris-head-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; `head` reads the database itself from then on."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    @property
    def watching(self) -> bool:
        """True while the watcher thread runs."""
        return self._thread is not None

    def head(self) -> int:
        """The latest known position: from memory while watching, else from the database."""
        if not self.watching:
            self.committed(self._read_head())
        with self._lock:
            return self._head

    def committed(self, position: int | None) -> None:
        """A command of this process committed up to `position` (or a read found it)."""
        if position is None:
            return
        with self._lock:
            self._head = max(self._head, position)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.committed(self._read_head())
            except Exception as error:  # an outage passes; the streams wait meanwhile
                log.warning("head watcher: cannot read the log's head: %s", error)
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
    def held(self, token_id: str) -> Iterator[None]:
        """A slot for the duration of the block (taken already by `take`)."""
        try:
            yield
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
