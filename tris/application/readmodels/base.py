"""What a read model is: its tables, how each event changes them, how to empty them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import (
    Callable,
    Collection,
    Container,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import Notification

from tris.storage.cursors import Cursor
from tris.storage.errors import ProjectionFailedError, is_unavailable

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Facts a projection wrote that never change afterwards (an agreement's order key,
    a recorded delivery, a revision's content), kept so that a later batch need not read
    them back: in a pipelined batch every read is a round trip. True in any process and
    after a rollback (they come from events, which never change); the most recently used,
    at most `limit` of them and, when `max_bytes` is given, at most that many bytes as
    each fact's size was given to `put`."""

    def __init__(self, limit: int, max_bytes: int | None = None) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self._facts: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The fact, or None when it is not remembered (read it from the table)."""
        kept = self._facts.get(key)
        if kept is None:
            return None
        self._facts.move_to_end(key)
        return kept[0]

    def forget(self, key: K) -> None:
        """Forget one fact (it is read back when needed)."""
        kept = self._facts.pop(key, None)
        if kept is not None:
            self.bytes -= kept[1]

    def put(self, key: K, fact: V, size: int = 0) -> None:
        """Remember a fact (of `size` bytes), dropping the least recently used beyond the
        bounds."""
        previous = self._facts.pop(key, None)
        if previous is not None:
            self.bytes -= previous[1]
        self._facts[key] = (fact, size)
        self.bytes += size
        while self._facts and (
            len(self._facts) > self.limit
            or (self.max_bytes is not None and self.bytes > self.max_bytes)
        ):
            _, (_, dropped) = self._facts.popitem(last=False)
            self.bytes -= dropped


class NewRows:
    """Rows of new entities (an agreement's) not written yet, by entity, in arrival order."""

    def __init__(self) -> None:
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        # The entities with rows added since the last `take_unkept`, in arrival order.
        self._unchecked: dict[str, None] = {}

    def add(self, key: str, row: tuple[Any, ...]) -> None:
        """Keep a row of the entity `key`."""
        self._rows.setdefault(key, []).append(row)
        self._unchecked[key] = None

    def take(self, keys: Collection[str] | None = None) -> list[tuple[Any, ...]]:
        """The rows of `keys` (of every entity when None); they are no longer kept."""
        if keys is None:
            rows = [row for kept in self._rows.values() for row in kept]
            self.clear()
            return rows
        rows = []
        for key in keys:
            rows += self._rows.pop(key, ())
        return rows

    def take_unkept(self, keep: Container[str]) -> list[tuple[Any, ...]]:
        """The rows of the entities not in `keep` that had rows added since the last call;
        they are no longer kept.

        Only those entities are looked at, not every entity kept (a rebuild keeps tens of
        thousands across its batches): an entity kept by one call must stay in `keep` until
        its rows are taken by `take`, as a rebuild's held agreements do.
        """
        rows: list[tuple[Any, ...]] = []
        for key in self._unchecked:
            if key not in keep:
                rows += self._rows.pop(key, ())
        self._unchecked = {}
        return rows

    def clear(self) -> None:
        """Keep nothing (the batch that added them did not commit)."""
        self._rows = {}
        self._unchecked = {}


class Projection(ABC):
    """A read model: its tables, how each event changes them, and how to empty them."""

    name: str
    schema_version: int = 1
    tables: Sequence[str] = ()
    indexes: Sequence[str] = ()
    # Statements only one backend understands (text search), by backend, run after the
    # indexes. Derived from the tables alone, so the stage, which answers no queries,
    # skips them, and `reset` and `table_names` know nothing of them.
    backend_indexes: Mapping[str, Sequence[str]] = {}
    digest_queries: Sequence[str] = ()
    # Tables where an agreement's events add to rows that others' events add to as well,
    # with the columns added (decimal strings). A rebuild's partner process applies half
    # of the agreements' events (ADR 27); its rows are added to the first process's here,
    # and must be distinct from them in every other table.
    partition_sums: Mapping[str, Sequence[str]] = {}
    # Columns no query filters, joins or sorts on, by table: a rebuild does not have
    # PostgreSQL gather the planner's statistics of them (ANALYZE reads each value of its
    # sample: a tenth of a second for the revisions' contents on the bench's log).
    unanalysed: Mapping[str, Sequence[str]] = {}
    # Set by a rebuild while it applies the log to its stage (ADR 36): a projection may
    # then keep the rows of new entities in memory across batches, up to a bound, as long
    # as nothing reads or changes them, and hand them to the write (`take_held`) instead
    # of the stage.
    holding: bool = False

    @abstractmethod
    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply one decoded domain event at a global position to the read model."""

    def flush(self, cur: Cursor) -> None:
        """Write what `apply` kept back for the end of a batch (rows changed by many of its
        events, written once); the runner calls it in the batch's transaction. Most
        read models keep nothing back."""
        return

    def forget_pending(self) -> None:
        """Drop what `apply` kept back: the batch it belongs to did not commit."""
        return

    def forget_ahead(self, events: Sequence[Any]) -> None:
        """Forget what was kept (`Remembered`) from `events`, applied ahead of their save
        at the positions predicted for them, when their statements did not commit (ADR
        35): the events may never be saved (their save refused) or be saved at other
        positions. Facts from events in the log are true for good; these are not yet."""
        return

    def write_held(self, cur: Cursor) -> None:
        """Write the rows kept in memory (`holding`) where the others went."""
        return

    def take_held(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows kept in memory (`holding`), by table, each in the table's column
        order; they are no longer kept."""
        return {}

    def table_names(self) -> list[str]:
        """Names of the tables this projection owns (parsed from its DDL)."""
        return [ddl.split("EXISTS", 1)[1].split("(", 1)[0].strip() for ddl in self.tables]

    def reset(self, cur: Cursor) -> None:
        """Delete every row of the read model."""
        for table in self.table_names():
            cur.execute(f"DELETE FROM {table}")  # noqa: S608 - names come from our own DDL


Applied = Iterable[tuple[Notification, Any]]


@contextmanager
def holding(projections: Sequence[Projection]) -> Iterator[None]:
    """The projections may hold new rows in memory beside a rebuild's stage (ADR 36);
    what they hold when it ends is dropped (nothing, unless the rebuild failed)."""
    for projection in projections:
        projection.holding = True
    try:
        yield
    finally:
        for projection in projections:
            projection.holding = False
            projection.forget_pending()


def take_held(projections: Sequence[Projection]) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection's held rows, by table; they are no longer held."""
    held: dict[str, list[tuple[Any, ...]]] = {}
    for projection in projections:
        held.update(projection.take_held())
    return held


def apply_batch(
    cur: Cursor, projections: Sequence[Projection], events_of: Callable[[Projection], Applied]
) -> None:
    """Apply each projection its events (`events_of`), then what it kept back for the
    batch's end (`flush`), in the caller's transaction.

    On failure every projection drops what it kept back (the batch does not commit), and
    an error other than the database being unavailable is reported as the projection
    failing at the event it was applying (at its last event for a failing `flush`). One
    `try` for the whole batch: a context manager per event cost the rebuild ~1 µs each.
    """
    projection: Projection | None = None
    notification: Notification | None = None
    try:
        for projection in projections:
            notification = None
            for notification, event in events_of(projection):
                projection.apply(cur, notification.id, event)
            projection.flush(cur)
    except BaseException as exc:
        for each in projections:
            each.forget_pending()
        if projection is None or not isinstance(exc, Exception) or is_unavailable(exc):
            raise
        raise ProjectionFailedError(
            projection.name,
            notification.id if notification is not None else 0,
            notification.topic.rpartition(".")[2] if notification is not None else "",
            f"{type(exc).__name__}: {exc}",
        ) from exc
