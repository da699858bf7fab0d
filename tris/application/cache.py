"""The aggregates a process used for its commands, kept for the next command (ADR 25).

A command borrows an aggregate (nobody else in the process can use it meanwhile) and
gives it back when its save committed; anything else drops it. What a borrowed aggregate
says may be stale — another process may have saved a later version — and that is safe:
a save of a stale aggregate clashes with the stored version, and an aggregate the command
only read is checked in the save's transaction (`read_versions`); the command then runs
once more on what the store holds. The cache is bounded by the bytes of the records its
aggregates were rebuilt from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# What a saved event adds to an aggregate's estimated size.
EVENT_BYTES = 1024


@dataclass
class Borrowed:
    """An aggregate a command holds: its estimated size, its version when borrowed, and
    whether it came from the cache (and so may be stale) or from the store."""

    aggregate: Any
    size: int
    version: int
    cached: bool


class AggregateCache:
    """Aggregates by id, least recently returned first out, at most `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[UUID, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """The estimated bytes held."""
        return self._bytes

    def take(self, aggregate_id: UUID) -> tuple[Any, int] | None:
        """The aggregate and its size, no longer in the cache; None when absent."""
        with self._lock:
            entry = self._entries.pop(aggregate_id, None)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._bytes -= entry[1]
            return entry

    def give_back(self, borrowed: Borrowed) -> None:
        """Keep an aggregate whose command committed (or that it only read)."""
        aggregate = borrowed.aggregate
        if getattr(aggregate, "pending_events", None):
            return  # changed and not saved: not what the store holds
        size = borrowed.size + EVENT_BYTES * max(aggregate.version - borrowed.version, 0)
        if size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._entries.pop(aggregate.id, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[aggregate.id] = (aggregate, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def forget(self, aggregate_id: UUID) -> None:
        """Drop an aggregate (its state is known to be out of date)."""
        with self._lock:
            entry = self._entries.pop(aggregate_id, None)
            if entry is not None:
                self._bytes -= entry[1]

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
