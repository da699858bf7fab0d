"""The one place where TRIS's parts are wired together."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tris.application.agreements import Agreements, Clock
from tris.application.parties import Parties
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
    return Services(
        settings=settings,
        store=store,
        parties=Parties(store),
        agreements=Agreements(store, today=today),
        tokens=Tokens(store.database),
    )
