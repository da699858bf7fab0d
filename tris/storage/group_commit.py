"""Group commit: the saves of one process that arrive together share one transaction.

Each command still decides on its own and its save carries its own checks (expected
versions, its idempotency record, the keys it claims); what the commands share is the
transaction, its one disk flush, and one call of the sequencer afterwards (ADR 25).

The first save that finds no writer at work becomes the writer (the *leader*): it takes
what is queued — its own save and every one that arrived meanwhile, in arrival order, up
to `max_batch`, never two saves of one aggregate — and commits them. The next leader may
begin its batch as soon as this one has committed; the positions of a committed batch are
looked up (`settle`) by its leader outside the lead, so one slow lookup (a long transaction
elsewhere holding the sequencer back) does not hold back the next batch's commit.

The storage engine supplies the two steps:

- `commit(batch)` writes the batch in one transaction. A save refused on its own (a version
  taken, a key already claimed) gets its `error` and leaves the others in; anything that
  ends the whole transaction is raised, and every save of the batch gets it.
- `settle(batch)` gives each committed save its `result` (its events' positions); what it
  raises, every save it was settling gets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

MAX_BATCH = 32


@dataclass(eq=False)
class Write:
    """One save in the queue, and what became of it."""

    payload: Any
    keys: frozenset[Hashable]
    result: Any = None
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    taken: bool = False
    done: bool = False
    # Set when the save is done, or when its thread is to lead the next batch: each
    # thread is woken for itself, not every waiting thread for every batch.
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False


class GroupCommit:
    """Batches concurrent saves of one process into shared transactions."""

    def __init__(
        self,
        commit: Callable[[list[Write]], None],
        settle: Callable[[list[Write]], None],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._commit = commit
        self._settle = settle
        self.max_batch = max_batch
        self._queue: list[Write] = []
        self._leading = False
        self._lock = threading.Lock()
        # How many batches were committed, and how many saves they held (for tests and
        # for the benchmark's report).
        self.batches = 0
        self.saves = 0

    def submit(self, payload: Any, keys: frozenset[Hashable]) -> Any:
        """Save `payload` in the next batch; its result once the batch is durable, or
        the error that refused it."""
        write = Write(payload, keys)
        with self._lock:
            self._queue.append(write)
            lead = not self._leading
            self._leading = True
        while not write.done:
            if lead:
                with self._lock:
                    batch = self._take()
                self._lead(batch)
                if write.done:
                    break
            write.wake.wait()
            write.wake.clear()
            lead, write.lead = write.lead, False
        if write.error is not None:
            raise write.error
        return write.result

    def _take(self) -> list[Write]:
        """The next batch: queued saves in arrival order, one per aggregate, at most
        `max_batch`; the rest stay queued (called under the lock)."""
        batch: list[Write] = []
        seen: set[Hashable] = set()
        rest: list[Write] = []
        for write in self._queue:
            if len(batch) < self.max_batch and not (write.keys & seen):
                batch.append(write)
                seen |= write.keys
                write.taken = True
            else:
                rest.append(write)
        self._queue = rest
        return batch

    def _lead(self, batch: list[Write]) -> None:
        """Commit the batch, hand the lead on, then settle it and wake its savers."""
        try:
            self._commit(batch)
        except BaseException as error:  # the whole transaction is gone
            for write in batch:
                if write.error is None:
                    write.error = error
        finally:
            with self._lock:
                self.batches += 1
                self.saves += len(batch)
                if self._queue:  # the first save waiting leads the next batch
                    following = self._queue[0]
                    following.lead = True
                    following.wake.set()
                else:
                    self._leading = False
        committed = [write for write in batch if write.error is None]
        if committed:
            try:
                self._settle(committed)
            except BaseException as error:
                for write in committed:
                    write.error = error
        for write in batch:
            write.done = True
            write.wake.set()
