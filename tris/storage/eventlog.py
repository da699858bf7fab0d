"""The event log: the library's Application on TRIS's recorders, and what TRIS asks of it.

Only this module holds the library's Application. The application layer reaches the log
through `EventLog` (its head, notifications after a position, an aggregate's records,
decoding, atomic saves) and never through the library's recorder or mapper.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from eventsourcing.application import Application, project_aggregate
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    JSONTranscoder,
    MapperDeserialisationError,
    Notification,
    Recording,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic

from tris.config import parse_database_url
from tris.domain.agreement import Agreement
from tris.domain.errors import TrisError
from tris.domain.market.market import Market
from tris.domain.networks.membership import MembershipGraph
from tris.domain.party import Party
from tris.storage.database import Database
from tris.storage.follow_up import FollowUpSource
from tris.storage.idempotency import IdempotencyRecord
from tris.storage.key_owners import KeyClaim
from tris.storage.log_part import LogPart, Tally
from tris.storage.notify import PostgresHeadChannel
from tris.storage.postgres import CONNECT_TIMEOUT, POOL_OVERFLOW, POOL_SIZE
from tris.storage.postgres_parallel import ParallelPostgresRecorder
from tris.storage.sqlite import TrisSQLiteRecorder
from tris.storage.transcodings import TupleKeepingTranscoder, register_transcodings
from tris.storage.vault import PersonalDataVault, SealedContact, inline_contacts
from tris.storage.writer import SharedWriter


def create_private_file(path: str) -> None:
    """Create an SQLite database file readable and writable by its owner only (0600), unless
    it exists; SQLite gives its journal and WAL files the database file's permissions."""
    if path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)


def eventsourcing_env(database_url: str) -> dict[str, str]:
    """The library's environment variables for a TRIS database URL."""
    backend, parts = parse_database_url(database_url)
    if backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": get_topic(TrisSQLiteRecorder),
            "SQLITE_DBNAME": parts["path"],
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(ParallelPostgresRecorder),
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"],
        "POSTGRES_PORT": parts["port"],
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"],
        "POSTGRES_POOL_SIZE": str(POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": str(POOL_OVERFLOW),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
    }


SNAPSHOTTED: tuple[type[Any], ...] = (Agreement, Party, Market, MembershipGraph)


class TrisApplication(Application[UUID]):
    """The eventsourcing Application whose log holds every party and agreement event."""

    name = "Tris"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Agreement: 50, Party: 50}

    def construct_transcoder(self) -> Transcoder:
        """A JSON transcoder that keeps tuples apart from lists, with TRIS's transcodings."""
        transcoder = TupleKeepingTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """The library's transcodings plus TRIS's value types and sealed contacts."""
        super().register_transcodings(transcoder)
        register_transcodings(transcoder)
        self.sealed_contacts = SealedContact()
        transcoder.register(self.sealed_contacts)


class _PartedRecorder(Protocol):
    """What both of TRIS's recorders offer beyond the library's."""

    def select_part(
        self,
        after: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        part: LogPart | None = None,
    ) -> Sequence[Notification]: ...

    def tallies_up_to(self, stop: int) -> dict[tuple[str, int], Tally]: ...


class EventLog:
    """The global, ordered log of every party and agreement event, on either backend."""

    def __init__(self, database_url: str, *, snapshot_interval: int = 50) -> None:
        self.database_url = database_url
        env = eventsourcing_env(database_url)
        if "SQLITE_DBNAME" in env:
            create_private_file(env["SQLITE_DBNAME"])
        # Every aggregate that may grow long: an agreement's deliveries, a market's
        # participants, the membership graph's changes (one per change, for ever).
        intervals = dict.fromkeys(SNAPSHOTTED, snapshot_interval)
        app_class = type(
            "TrisApplication", (TrisApplication,), {"snapshotting_intervals": intervals}
        )
        self.app: TrisApplication = app_class(env=env)
        self.database = Database(self.app.recorder)
        # Contacts are sealed per data subject; the transcoder needs the vault's table.
        self.vault = PersonalDataVault(self.database)
        self.app.sealed_contacts.vault = self.vault

    def close(self) -> None:
        """Release connections (and the writer's lock, ADR 38)."""
        recorder = self.app.recorder
        if isinstance(recorder, ParallelPostgresRecorder) and recorder.shared is not None:
            recorder.shared.close()
        self.app.close()

    def head_channel(self) -> PostgresHeadChannel | None:
        """A channel that carries the log's head between processes (PostgreSQL's
        LISTEN/NOTIFY), or None where there is none (SQLite)."""
        backend, parts = parse_database_url(self.database_url)
        return PostgresHeadChannel(parts) if backend == "postgres" else None

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return int(self.app.recorder.max_notification_id() or 0)

    def given_out(self) -> int:
        """The highest position numbered when this process's saves were last given their
        positions (on SQLite: the highest position a save of this process took)."""
        return int(getattr(self.app.recorder, "given_out", 0))

    def follow_saves_with(self, source: FollowUpSource) -> None:
        """Let `source` give each batch of saves statements for the same round trip
        (ADR 35; PostgreSQL only: SQLite's saves and read models share one writer)."""
        recorder = self.app.recorder
        if isinstance(recorder, ParallelPostgresRecorder):
            recorder.follow_up = source

    def share_writer(self, directory: str) -> SharedWriter | None:
        """Save through one writer among the processes that share `directory` (ADR 38;
        PostgreSQL only: SQLite is served by one process)."""
        recorder = self.app.recorder
        if not isinstance(recorder, ParallelPostgresRecorder):
            return None
        recorder.shared = SharedWriter(directory, recorder.group.submit)
        return recorder.shared

    def notifications(
        self,
        after: int | None,
        limit: int,
        *,
        until: int | None = None,
        topics: Sequence[str] = (),
        part: LogPart | None = None,
    ) -> Sequence[Notification]:
        """Up to `limit` stored events after position `after` (up to `until`), in order;
        only those of `part` when given (read by the database, ADR 27)."""
        if part is not None:
            recorder = cast(_PartedRecorder, self.app.recorder)
            return recorder.select_part(after or 0, limit, until, topics, part)
        return self.app.recorder.select_notifications(
            start=after, limit=limit, stop=until, topics=topics, inclusive_of_start=False
        )

    def tallies_up_to(self, position: int) -> dict[tuple[str, int], Tally]:
        """The stored events up to a position, counted by topic (every topic there is)
        and the last byte of their originator's id (what splits a rebuild, `LogPart`)."""
        return cast(_PartedRecorder, self.app.recorder).tallies_up_to(position)

    def decode(self, stored: StoredEvent) -> DomainEventProtocol[UUID]:
        """The domain event of a stored one, upcast to the current version. A TRIS error
        met while decoding (a person key that does not unwrap) is raised as itself."""
        try:
            return self.app.mapper.to_domain_event(stored)
        except MapperDeserialisationError as error:
            if isinstance(error.__cause__, TrisError):
                raise error.__cause__ from None
            raise

    def stored(
        self, aggregate_id: UUID, versions: tuple[int, int] | None = None
    ) -> Sequence[StoredEvent]:
        """One aggregate's stored events as recorded, in version order (from and to the
        versions given)."""
        if versions is not None:
            return self.database.event_range(aggregate_id, *versions)
        return self.app.recorder.select_events(aggregate_id)

    def events(self, aggregate_id: UUID) -> list[Any]:
        """All events of one aggregate, decoded, in version order."""
        return list(self.app.events.get(aggregate_id))

    def aggregate_ids(self) -> set[str]:
        """Every aggregate id with a stored event (dashed)."""
        return self.database.aggregate_ids()

    def load(self, aggregate_id: UUID, version: int | None = None) -> Any:
        """The aggregate from its latest snapshot and the events after it (one read), or
        None; what the library's repository does in two transactions of its own."""
        stored = self._records(aggregate_id, version)
        return project_aggregate(None, (self.decode(s) for s in stored))

    def load_sized(self, aggregate_id: UUID) -> tuple[Any, int]:
        """`load`, and the bytes of the records it was rebuilt from (for a cache)."""
        stored = self._records(aggregate_id, None)
        size = sum(len(s.state) for s in stored)
        return project_aggregate(None, (self.decode(s) for s in stored)), size

    def _records(self, aggregate_id: UUID, version: int | None) -> list[StoredEvent]:
        snapshots = self.app.snapshots
        recorder: Any = None if snapshots is None else snapshots.recorder
        table = None if recorder is None else str(recorder.events_table_name)
        return self.database.aggregate_records(aggregate_id, table, lte=version)

    def save(
        self,
        aggregates: Sequence[Aggregate],
        record: IdempotencyRecord | None,
        key_claims: Sequence[KeyClaim] = (),
        read_versions: Sequence[tuple[UUID, int]] = (),
    ) -> Sequence[Recording[UUID]]:
        """Save atomically with the idempotency record and the signing keys the events
        claim; each event with its global position (none when the positions are not known
        yet: a long transaction elsewhere holds the sequencer back).

        Raises the library's IntegrityError when another writer took a version first,
        another party a claimed key, or when an aggregate read at one of `read_versions`
        (and not saved) has a later version now.
        """
        # The domain events go along (in the order they are stored) for a follow-up that
        # writes their read-model rows in the save's round trip (ADR 35).
        events = [e for a in aggregates for e in a.pending_events]
        return self.app.save(
            *aggregates,
            idempotency=record,
            key_claims=key_claims,
            read_versions=read_versions,
            saved_events=events,
        )

    def inline_contacts(self, page: int = 1000) -> Iterator[tuple[str, str]]:
        """(person_id, sealed) of every contact a party event or snapshot holds inline
        (as recorded before sealed data was kept apart)."""
        topics = [get_topic(Party.Registered), get_topic(Party.ContactsReplaced)]
        after, head = 0, self.head()
        while after < head:
            batch = self.notifications(after, page, until=head, topics=topics)
            for note in batch:
                yield from inline_contacts(bytes(note.state))
            after = batch[-1].id if batch else head
        snapshots = self.app.snapshots
        recorder: Any = None if snapshots is None else snapshots.recorder
        if recorder is not None:
            for state in self.database.all_states(str(recorder.events_table_name)):
                yield from inline_contacts(state)

    def insert(self, stored: Sequence[StoredEvent]) -> Sequence[int] | None:
        """Write stored events as they are (a replay of an export); their positions."""
        return self.app.recorder.insert_events(list(stored))
