"""Replay an export into a fresh store: the same events, the same hashes, the same read models.

A replay reads the file twice. The first pass checks it without writing anything: the
header, that positions rise, that each aggregate's versions follow 1, 2, 3…, and that
every event's hash is the hash of its stored record linked to its predecessor. The
second pass inserts the stored records in global order, a batch per transaction, through
the store's own recorder — which computes the hash chain again as it writes — and
compares each recorded hash with the file's. Then every read model is rebuilt and the
Merkle log is brought up to date.

Personal-data keys are never exported, so contact persons of the source show as erased
in the replayed store; no read model holds personal data, so digests still agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol, TextIO
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from tris.application.errors import (
    ExportIntegrityError,
    ForeignEventTypeError,
    PartialExportError,
    ReplayTargetNotEmptyError,
)
from tris.application.integrity.service import Integrity
from tris.application.opendata.export import ExportedEvent, ExportHeader, read_events, read_header
from tris.application.opendata.stream import EventStream
from tris.application.readmodels.runner import ProjectionRunner
from tris.application.store import EventStore
from tris.domain.agreement import Agreement
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting
from tris.domain.networks.membership import Membership, MembershipGraph
from tris.domain.party import Party
from tris.domain.proofs.chain import GENESIS, event_hash

BATCH = 500

Opener = Callable[[], TextIO]
Progress = Callable[[int], None]


def _event_topics() -> frozenset[str]:
    """The topic of every event class of TRIS's aggregates: all an export may name."""
    topics = set()
    for aggregate in (Party, Agreement, Market, Posting, Membership, MembershipGraph):
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, DomainEvent):
                topics.add(get_topic(value))
    return frozenset(topics)


EVENT_TOPICS = _event_topics()


@dataclass(frozen=True)
class ExportCheck:
    """What the first pass found: the header, and how many events and aggregates follow."""

    header: ExportHeader
    events: int
    aggregates: int


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of a replay."""

    events: int
    aggregates: int
    head: int
    positions_preserved: bool
    digest: str


def check_export(open_file: Opener) -> ExportCheck:
    """Verify a complete export's order and every hash without writing anything."""
    with open_file() as handle:
        header = read_header(handle.readline() or None)
        if header.after != 0:
            # Its first events link to hashes the file does not hold.
            raise PartialExportError(
                f"this export starts after position {header.after}; only a complete "
                "export (made without --after) can be checked and replayed on its own"
            )
        chains = _ChainCheck()
        for event in read_events(handle):
            chains.check(event)
    return ExportCheck(header, chains.events, len(chains.last_hash))


class ReplayTarget(Protocol):
    """What a replay writes into: an empty store, its stream, read models and Merkle log."""

    @property
    def store(self) -> EventStore:
        """The event store to load the export into."""

    @property
    def stream(self) -> EventStream:
        """The store's event stream."""

    @property
    def projections(self) -> ProjectionRunner:
        """The read models to rebuild."""

    @property
    def integrity(self) -> Integrity:
        """The integrity services whose Merkle log is brought up to date."""


def require_empty(services: ReplayTarget) -> EventStream:
    """The target's stream, or ReplayTargetNotEmptyError when it holds any event."""
    stream = services.stream
    head = stream.head()
    if head != 0:
        raise ReplayTargetNotEmptyError(
            f"the target store holds events already (up to position {head}); "
            "replay into a fresh, empty database"
        )
    return stream


def replay(
    services: ReplayTarget,
    open_file: Opener,
    *,
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> ReplayReport:
    """Load an export into the (empty) store of `services` and rebuild every read model."""
    stream = require_empty(services)
    checked = check_export(open_file)
    preserved = True
    with open_file() as handle:
        handle.readline()
        events = read_events(handle)
        for batch in _batches(events, batch_size):
            stored = [
                StoredEvent(
                    originator_id=UUID(e.aggregate_id),
                    originator_version=e.version,
                    topic=e.topic,
                    state=e.state,
                )
                for e in batch
            ]
            positions = services.store.log.insert(stored)
            if positions is not None and list(positions) != [e.position for e in batch]:
                preserved = False
            _compare_recorded(stream, batch)
            if progress is not None:
                progress(len(batch))
    services.projections.rebuild()
    services.integrity.log.catch_up()
    return ReplayReport(
        events=checked.events,
        aggregates=checked.aggregates,
        head=stream.head(),
        positions_preserved=preserved,
        digest=services.projections.digest(),
    )


class _ChainCheck:
    """Checks events one by one: rising positions, consecutive versions, linked hashes."""

    def __init__(self) -> None:
        self.last_position = 0
        self.last_hash: dict[str, str] = {}
        self.last_version: dict[str, int] = {}
        self.events = 0

    def check(self, event: ExportedEvent) -> None:
        """Accept the next event of the file, or raise ExportIntegrityError naming it."""
        where = f"position {event.position} (line {event.line})"
        if event.topic not in EVENT_TOPICS:
            # Checked before anything resolves the topic: resolving imports its module.
            shown = event.topic[:120].encode("unicode_escape").decode("ascii")
            raise ForeignEventTypeError(
                f"{where} names the event type {shown!r}, which is not one of TRIS's own; "
                "nothing of this file was imported"
            )
        if event.position <= self.last_position:
            raise ExportIntegrityError(
                f"{where} does not follow position {self.last_position}: the order is broken"
            )
        expected = self.last_version.get(event.aggregate_id, 0) + 1
        if event.version != expected:
            raise ExportIntegrityError(
                f"{where} is version {event.version} of aggregate {event.aggregate_id}, "
                f"but version {expected} comes next in its chain"
            )
        prev = self.last_hash.get(event.aggregate_id, GENESIS)
        try:
            digest = event_hash(event.aggregate_id, event.version, event.topic, event.state, prev)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise ExportIntegrityError(f"{where}: the stored record is not JSON") from None
        if digest != event.hash:
            raise ExportIntegrityError(
                f"{where}: the stored record does not match its hash "
                f"(file {event.hash}, computed {digest})"
            )
        self.last_position = event.position
        self.last_version[event.aggregate_id] = event.version
        self.last_hash[event.aggregate_id] = digest
        self.events += 1


def _compare_recorded(stream: EventStream, batch: Sequence[ExportedEvent]) -> None:
    """The hashes the recorder wrote must be the file's hashes."""
    keys = [(e.aggregate_id, e.version) for e in batch]
    recorded = stream.hashes_of(keys)
    for event, key in zip(batch, keys, strict=True):
        if recorded.get(key) != event.hash:
            raise ExportIntegrityError(
                f"position {event.position} (line {event.line}): the store recorded hash "
                f"{recorded.get(key)}, the file says {event.hash}"
            )


def _batches(events: Iterator[ExportedEvent], size: int) -> Iterator[list[ExportedEvent]]:
    while batch := list(islice(events, size)):
        yield batch
