"""The one place where TRIS's parts are wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from tris.application.agreements import Agreements, Clock
from tris.application.parties import Parties
from tris.application.projections.queries import Queries
from tris.application.projections.readmodels import default_projections
from tris.application.projections.runner import ProjectionRunner
from tris.application.store import EventStore
from tris.application.tokens import Tokens
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
    closed: bool = field(default=False)

    def close(self) -> None:
        """Release the database connections."""
        if not self.closed:
            self.store.close()
            self.closed = True


def build(settings: Settings | None = None, *, today: Clock = date.today) -> Services:
    """Build the services from settings (the environment when none are given)."""
    settings = settings or load_settings()
    store = EventStore(settings.database_url, snapshot_interval=settings.snapshot_interval)
    projections = ProjectionRunner(store, default_projections())
    if settings.projection_mode == "inline":
        # Embedded mode: every command brings the read models up to date before it returns.
        store.after_commit.append(lambda _position: _catch_up_quietly(projections))
    else:
        # Workers apply the events; a command waits (bounded) until they passed its position.
        timeout = settings.read_your_writes_timeout

        def wait(position: int | None) -> None:
            projections.wait_for(position, timeout)

        store.after_commit.append(wait)
    return Services(
        settings=settings,
        store=store,
        parties=Parties(store),
        agreements=Agreements(store, today=today),
        tokens=Tokens(store.database),
        projections=projections,
        queries=Queries(store.database, today=today),
    )


def _catch_up_quietly(projections: ProjectionRunner) -> None:
    """Catch up after a commit; a failure here must not turn a committed command into an error."""
    try:
        projections.catch_up()
    except Exception:  # the next command or `tris worker` catches up; the events are safe
        logging.getLogger(__name__).exception("inline projection catch-up failed")
