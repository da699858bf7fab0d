"""One aggregate's stored events with their positions, recorded hashes and leaves."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tris.application.access import Principal
from tris.application.integrity.log import IntegrityLog, Leaf
from tris.application.store import EventStore
from tris.domain.errors import DomainError
from tris.domain.proofs.chain import ChainLink


@dataclass(frozen=True)
class StoredAggregate:
    """What the database holds for one aggregate, read without decoding any event."""

    aggregate_id: str
    links: list[ChainLink]
    positions: dict[int, int]
    recorded: dict[int, tuple[str, str]]
    leaves: dict[int, Leaf]

    def states(self) -> list[tuple[int, str, Any]]:
        """(version, topic, parsed state) of each event; None where the state is not JSON."""
        out = []
        for link in self.links:
            try:
                state = json.loads(link.state)
            except (ValueError, UnicodeDecodeError):
                state = None
            out.append((link.version, link.topic, state))
        return out


def read_stored(
    store: EventStore,
    log: IntegrityLog,
    aggregate_id: UUID,
    versions: tuple[int, int] | None = None,
) -> StoredAggregate:
    """Read one aggregate's raw events and everything recorded about them (only those from
    and to the versions given, when given: a window of a long history)."""
    key = str(aggregate_id)
    recorded = log.recorded_hashes(key, versions)
    events = store.log.stored(aggregate_id, versions)
    links = []
    for event in events:
        version = event.originator_version
        hashes = recorded.get(version)
        links.append(
            ChainLink(
                aggregate_id=key,
                version=version,
                topic=event.topic,
                state=bytes(event.state),
                hash=None if hashes is None else hashes[0],
                prev_hash=None if hashes is None else hashes[1],
            )
        )
    return StoredAggregate(
        aggregate_id=key,
        links=links,
        positions=store.database.positions(aggregate_id, versions),
        recorded=recorded,
        leaves=log.leaves_of(key, versions),
    )


def may_read(
    store: EventStore, viewer: Principal, agreement_id: str, party_ids: Collection[str]
) -> bool:
    """Whether this viewer reads the agreement of these parties: auditors and admins every
    one, a partner its own party's, the public the published ones (decoded to tell)."""
    if viewer.published_only:
        try:
            return store.agreement(agreement_id).published
        except DomainError:
            return False
    return viewer.sees_everything or viewer.party_id in party_ids
