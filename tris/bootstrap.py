"""The one place where TRIS's parts are wired together.

Only the entry points (the HTTP application, the CLI), the demo and the tests import this
module; nothing in the layers below does. `build` makes every service over one event store;
`Services.start_background` starts what runs beside the requests (the checkpoint schedule)
and `Services.close` stops it and releases the database.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.persistence import StoredEvent

from tris.application.agreements import Agreements, Clock
from tris.application.integrity.keys import key_path, load_server_key
from tris.application.integrity.service import Integrity
from tris.application.markets import Markets
from tris.application.networks import Networks
from tris.application.opendata.notifier import HeadWatcher, StreamSlots
from tris.application.opendata.ocds import OpenContracting
from tris.application.opendata.stream import EventStream
from tris.application.parties import Parties
from tris.application.readmodels.catalogue import default_projections
from tris.application.readmodels.partner import PartnerRecipe
from tris.application.readmodels.queries import Queries
from tris.application.readmodels.queries.paging import CURSOR_PURPOSE, CursorCodec
from tris.application.readmodels.runner import ProjectionRunner
from tris.application.store import EventStore
from tris.application.tokens import REPLAY_PURPOSE, Tokens
from tris.config import Settings, load_settings
from tris.storage.eventlog import EventLog
from tris.storage.follow_up import FollowUp
from tris.storage.vault import WRAPPING_PURPOSE


@dataclass
class Services:
    """Everything the interfaces call: use cases, queries, open data and integrity over one
    event store."""

    settings: Settings
    store: EventStore
    parties: Parties
    agreements: Agreements
    markets: Markets
    networks: Networks
    tokens: Tokens
    projections: ProjectionRunner
    queries: Queries
    integrity: Integrity
    stream: EventStream
    head_watcher: HeadWatcher
    stream_slots: StreamSlots
    open_contracting: OpenContracting
    closed: bool = field(default=False)

    def start_background(self) -> None:
        """Check the server key (ServerKeyError), start the checkpoint schedule and the
        watcher of the log's head that wakes the live streams."""
        self.integrity.check_configuration()
        self.integrity.start_schedule(self.settings.checkpoint_interval_seconds)
        self.head_watcher.start()

    def stop_background(self) -> None:
        """Stop what `start_background` started (the services stay usable)."""
        self.head_watcher.stop()
        self.integrity.close()

    def close(self) -> None:
        """Stop the background work and release the database connections."""
        if not self.closed:
            self.stop_background()
            self.store.close()
            self.closed = True


def check_server_key(settings: Settings) -> None:
    """Load (for SQLite: create) the server key the settings name, or ServerKeyError.

    The command that starts the API processes checks it once, before any of them starts.
    """
    path, create = key_path(settings)
    load_server_key(path, create=create)


def build(settings: Settings | None = None, *, today: Clock = date.today) -> Services:
    """Build the services from settings (the environment when none are given)."""
    settings = settings or load_settings()
    store = EventStore(
        settings.database_url,
        snapshot_interval=settings.snapshot_interval,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
    )
    # Keys registered before their owners were kept, or replayed from an export, are
    # claimed by the party that registered them first (a no-op once caught up).
    store.claim_registered_keys()
    # A long rebuild hands half the agreements' events to a second process (ADR 27).
    partner = PartnerRecipe(functools.partial(EventLog, settings.database_url), default_projections)
    projections = ProjectionRunner(store, default_projections(), partner=partner)
    mode, timeout = settings.projections, settings.read_your_writes_timeout
    store.after_commit.append(
        lambda position, recorded: projections.after_commit(position, mode, timeout, recorded)
    )

    def follow_up(first: int, events: Sequence[tuple[StoredEvent, Any]]) -> FollowUp | None:
        """A batch's read-model rows in its save's round trip, when this process applies
        its own events (not when it leaves them to a worker). Built while the save's
        transaction holds the sequencer's lock: nothing here may wait for the database
        (whether a worker is alive is what the process found last)."""
        if mode == "worker" or (mode == "auto" and projections.workers_seen_alive()):
            return None
        return projections.follow_up(first, events)

    store.log.follow_saves_with(follow_up)
    head_watcher = HeadWatcher(store.log.head, channel=store.log.head_channel())
    shared = store.log.share_writer(settings.writer_dir) if settings.writer_dir else None
    if shared is not None:

        def after_forwarded(position: int) -> bool:
            """In the writer: another process's save is durable; make the read models
            hold it as that process would have, and say whether they do. The writer's
            watcher announces it (the saving process does not: one NOTIFY, with its
            durable commit, for both)."""
            head_watcher.committed(position)
            projections.after_commit(position, mode, timeout)
            return projections.holds(position)

        shared.after_forwarded = after_forwarded
        shared.held_elsewhere = projections.held_elsewhere
    integrity = Integrity(store, settings)
    # Each person's key is wrapped by a key derived from the server key (outside the
    # database); keys and inline data from before are moved under wrapped keys once.
    store.vault.wrap_with(lambda: integrity.derived_key(WRAPPING_PURPOSE))
    if store.vault.unwrapped_persons():
        store.vault.migrate(store.log.inline_contacts)
    cursors = CursorCodec(lambda: integrity.derived_key(CURSOR_PURPOSE))

    def committed(position: int | None, _: object) -> None:
        forwarded = shared is not None and not shared.is_writer
        head_watcher.committed(position, announced_elsewhere=forwarded)

    store.after_commit.append(committed)
    queries = Queries(store.database, today=today, cursors=cursors)

    def settle(position: int) -> bool:
        projections.after_commit(position, mode, timeout)
        return projections.caught_up_to() >= position

    agreements = Agreements(
        store,
        today=today,
        max_content_bytes=settings.max_content_bytes,
        max_revisions=settings.max_revisions,
    )
    parties = Parties(store, cursors)
    markets = Markets(store, agreements, today=today)
    open_contracting = OpenContracting(
        store,
        agreements,
        parties,
        markets,
        queries,
        ocid_prefix=settings.ocid_prefix,
        publisher=settings.ocds_publisher,
    )
    return Services(
        settings=settings,
        store=store,
        parties=parties,
        agreements=agreements,
        markets=markets,
        networks=Networks(store, queries, settle),
        tokens=Tokens(
            store.database,
            replay_key=lambda: integrity.derived_key(REPLAY_PURPOSE),
            idempotency=store.idempotency,
            cursors=cursors,
        ),
        projections=projections,
        queries=queries,
        integrity=integrity,
        stream=EventStream(store),
        head_watcher=head_watcher,
        stream_slots=StreamSlots(settings.max_streams_per_token),
        open_contracting=open_contracting,
    )
