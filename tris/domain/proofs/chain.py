"""The hash chain of one aggregate's events: pure computation over stored records.

An event's hash covers what was stored, not an upcast object, so a hash stays checkable
after any later change of the event's schema:

    hash_n = SHA-256(JCS({"aggregate_id", "version", "topic", "state", "prev_hash"}))

`state` is the stored JSON (timestamp, actor and data) parsed as JSON; `prev_hash` is the
hex hash of version n-1, or "" for the first event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson

from tris.domain.proofs.merkle import HASH_BYTES, leaf_hash
from tris.domain.signing import canonical_json

GENESIS = ""


def event_hash(aggregate_id: str, version: int, topic: str, state: bytes | str, prev: str) -> str:
    """The lowercase hex hash of one stored event linked to its predecessor's hash."""
    record = {
        "aggregate_id": aggregate_id,
        "version": version,
        "topic": topic,
        "state": _parsed(state),
        "prev_hash": prev,
    }
    return hashlib.sha256(canonical_json(record)).hexdigest()


def _parsed(state: bytes | str) -> Any:
    """A stored state's JSON value (orjson's parser; the standard library's for what it
    refuses, such as integers beyond 64 bits)."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)


def leaf_for(digest: str) -> str | None:
    """The hex Merkle leaf hash of a hex event hash (None when it is not a SHA-256 hex)."""
    try:
        raw = bytes.fromhex(digest)
    except (ValueError, TypeError):
        return None
    return leaf_hash(raw).hex() if len(raw) == HASH_BYTES else None


@dataclass(frozen=True)
class ChainLink:
    """One stored event with the hashes recorded for it (None when no hash was recorded)."""

    aggregate_id: str
    version: int
    topic: str
    state: bytes
    hash: str | None
    prev_hash: str | None


def recompute(link: ChainLink, prev: str) -> str | None:
    """The link's hash recomputed from its stored fields (None if the state is not JSON)."""
    try:
        return event_hash(link.aggregate_id, link.version, link.topic, link.state, prev)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


def chain_problems(links: Sequence[ChainLink]) -> list[str]:
    """Everything wrong with one aggregate's chain, in version order (empty when intact)."""
    problems: list[str] = []
    prev = GENESIS
    expected_version = 1
    for link in links:
        if link.version != expected_version:
            problems.append(f"version {link.version} follows version {expected_version - 1}")
        if link.hash is None:
            problems.append(f"version {link.version} has no recorded hash")
        else:
            if link.prev_hash != prev:
                problems.append(f"version {link.version} does not link to its predecessor")
            if recompute(link, prev) != link.hash:
                problems.append(f"version {link.version} does not match its recorded hash")
        prev = link.hash if link.hash is not None else (recompute(link, prev) or "")
        expected_version = link.version + 1
    return problems


class StoredRecord(Protocol):
    """The fields of a library StoredEvent that the chain covers."""

    @property
    def originator_id(self) -> Any:
        """The aggregate's id."""

    @property
    def originator_version(self) -> int:
        """The event's version."""

    @property
    def topic(self) -> str:
        """The event's class topic."""

    @property
    def state(self) -> bytes:
        """The stored JSON."""


def link_batch(
    records: Sequence[StoredRecord], previous: Callable[[str, int], str | None]
) -> list[tuple[str, int, str, str]]:
    """Rows (aggregate id, version, hash, prev hash) chaining a batch of new stored events.

    `previous(aggregate_id, version)` gives the recorded hash of that earlier version (a
    committed hash never changes); rows come sorted so concurrent writers lock them in
    the same order.
    """
    last: dict[str, str] = {}
    rows = []
    for record in records:
        aggregate_id = str(UUID(str(record.originator_id)))
        version = record.originator_version
        prev = last.get(aggregate_id)
        if prev is None:
            prev = (previous(aggregate_id, version - 1) if version > 1 else None) or GENESIS
        digest = event_hash(aggregate_id, version, record.topic, record.state, prev)
        rows.append((aggregate_id, version, digest, prev))
        last[aggregate_id] = digest
    return sorted(rows)
