"""The one place where TRIS's parts are wired together."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tris.application.agreements import Agreements, Clock
from tris.application.integrity.service import Integrity
from tris.application.parties import Parties
from tris.application.readmodels.models import default_projections
from tris.application.readmodels.queries import Queries
from tris.application.readmodels.runner import ProjectionRunner
from tris.application.store import EventStore
from tris.application.tokens import REPLAY_PURPOSE, Tokens
from tris.config import Settings, load_settings


@dataclass
class Services:
    """Everything the interfaces call: use cases over one event store."""

    settings: Settings
    store: EventStore
    parties: Parties
    agreements: Agreements
    tokens: Tokens
    projections: ProjectionRunner
    queries: Queries
    integrity: Integrity
    closed: bool = field(default=False)

    def close(self) -> None:
        """Release the database connections."""
        if not self.closed:
            self.integrity.close()
            self.store.close()
            self.closed = True


def build(settings: Settings | None = None, *, today: Clock = date.today) -> Services:
    """Build the services from settings (the environment when none are given)."""
    settings = settings or load_settings()
    store = EventStore(settings.database_url, snapshot_interval=settings.snapshot_interval)
    projections = ProjectionRunner(store, default_projections())
    mode, timeout = settings.projections, settings.read_your_writes_timeout
    store.after_commit.append(lambda position: projections.after_commit(position, mode, timeout))
    integrity = Integrity(store, settings)
    return Services(
        settings=settings,
        store=store,
        parties=Parties(store),
        agreements=Agreements(store, today=today),
        tokens=Tokens(store.database, replay_key=lambda: integrity.derived_key(REPLAY_PURPOSE)),
        projections=projections,
        queries=Queries(store.database, today=today),
        integrity=integrity,
    )
