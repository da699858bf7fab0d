"""The evidence bundle of one agreement: everything needed to check it offline.

Layout (`tris-evidence/2`)::

    format, agreement_id, generated_at
    events            [{position, leaf_index, aggregate_id, version, topic, state, hash, prev_hash}]
                      `state` is the stored JSON, as a string, exactly as stored
    revisions         [{number, content, signing_payload, content_hash, signatures: [...]}]
    parties           [{party_id, name, sector, keys: [{key_id, public_key, revoked, proven}]}]
                      keys as the key events below say them, as of the checkpoint
    key_events        the parties' SigningKeyRegistered/SigningKeyRevoked events the
                      checkpoint covers, in log order, in the same shape as `events`
    chain_head        the hash of the last event
    checkpoint        {log, tree_size, root_hash, issued_at, signature, key_id}
    inclusion_proofs  [{leaf_index, tree_size, path}], one per event
    key_inclusion_proofs  the same, one per key event
    server_public_key, server_key_id
    bundle_signature  the server's signature of {format, bundle_sha256}: the SHA-256 of
                      the JCS of everything else

A bundle is written a window of events at a time, never held whole: `EvidenceBundle`
first scans the agreement (who may see it, which checkpoint covers it, its revisions'
numbers and signatures — small things), then writes it twice, to hash it and to send it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from tris.application.access import Principal
from tris.application.errors import CheckpointPendingError
from tris.application.integrity.log import IntegrityLog
from tris.application.integrity.stored import StoredAggregate, may_read, read_stored
from tris.application.store import EventStore
from tris.domain.errors import AgreementNotFoundError, DomainError
from tris.domain.proofs.chain import ChainLink
from tris.domain.proofs.keys import KEY_TOPICS, KeyHistory, read_key_history
from tris.domain.proofs.memberships import held_at_signature, signed_on
from tris.domain.proofs.record import (
    RecordedSignature,
    content_digest,
    event_type,
    is_agreement_topic,
    payload_bytes,
    read_record,
)
from tris.domain.proofs.signed import (
    BUNDLE_FORMAT,
    Members,
    Streamed,
    bundle_statement,
    jcs_chunks,
    layout_chunks,
    rfc3339,
    utc_now,
)

# Events read (and held) at a time while a bundle is written.
WINDOW = 32


@dataclass
class _Scan:
    """What one pass over an agreement's events leaves in memory: small things only."""

    last_version: int = 0
    chain_head: str | None = None
    max_leaf: int = -1
    party_ids: dict[str, None] = field(default_factory=dict)
    notary_ids: dict[str, None] = field(default_factory=dict)
    revisions: dict[int, int] = field(default_factory=dict)  # number → version
    signatures: list[RecordedSignature] = field(default_factory=list)
    notarisations: list[RecordedSignature] = field(default_factory=list)
    # Each Signed event's version → (its leaf index, the day it was signed).
    signed: dict[int, tuple[int, date]] = field(default_factory=dict)


class EvidenceBundle:
    """One agreement's bundle, checked (visible to the viewer, covered by a signed
    checkpoint) and ready to be written a window at a time."""

    def __init__(
        self,
        store: EventStore,
        log: IntegrityLog,
        viewer: Principal,
        agreement_id: str,
        memberships_of: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.store, self.log = store, log
        missing = AgreementNotFoundError(f"no agreement {agreement_id} visible to this token")
        try:
            self.key = UUID(agreement_id)
        except (ValueError, TypeError, AttributeError):
            raise missing from None
        self.agreement_id = str(self.key)
        log.catch_up()
        scan = self._scan()
        if scan.last_version == 0:
            raise missing
        if not may_read(store, viewer, self.agreement_id, scan.party_ids):
            raise missing
        checkpoint = log.covering_checkpoint(scan.max_leaf + 1)
        if checkpoint is None:
            raise CheckpointPendingError(
                f"no signed checkpoint covers every event of agreement {agreement_id} yet; "
                "checkpoints are signed on schedule or by an admin (POST /v1/checkpoints): "
                "ask again after the next one"
            )
        self.scan, self.checkpoint = scan, checkpoint
        self.version = scan.last_version
        self.generated_at = rfc3339(utc_now())
        signers = list(dict.fromkeys([*scan.party_ids, *scan.notary_ids]))
        self._keys = _key_section(store, log, signers, checkpoint.tree_size)
        self._memberships = (
            None if memberships_of is None else self._membership_section(memberships_of)
        )

    def _windows(self, last: int | None = None) -> Iterator[StoredAggregate]:
        first = 1
        while last is None or first <= last:
            upto = first + WINDOW - 1 if last is None else min(first + WINDOW - 1, last)
            window = read_stored(self.store, self.log, self.key, (first, upto))
            if window.links:
                yield window
            if len(window.links) < upto - first + 1:
                return
            first = upto + 1

    def _scan(self) -> _Scan:
        scan = _Scan()
        for window in self._windows():
            if scan.last_version == 0 and not any(
                is_agreement_topic(link.topic) for link in window.links
            ):
                return _Scan()
            record = read_record(self.agreement_id, window.states())
            for number, revision in record.revisions.items():
                scan.revisions[number] = revision.version
                for party_id in revision.content.get("parties", []):
                    scan.party_ids.setdefault(str(party_id), None)
            scan.signatures += record.signatures
            for version, topic, state in window.states():
                leaf = window.leaves.get(version)
                if event_type(topic) == "Signed" and leaf is not None and state is not None:
                    scan.signed[version] = (leaf.leaf_index, signed_on(state))
            scan.notarisations += record.notarisations
            for notarisation in record.notarisations:
                scan.notary_ids.setdefault(notarisation.party_id, None)
            for link in window.links:
                leaf = window.leaves.get(link.version)
                if leaf is not None:  # an event without a leaf fails its check offline
                    scan.max_leaf = max(scan.max_leaf, leaf.leaf_index)
            scan.last_version = window.links[-1].version
            scan.chain_head = window.links[-1].hash
        return scan

    # ------------------------------------------------------------------ the members

    def members(self) -> Members:
        """Every member but the signature; the long lists are `Streamed`."""
        key = self.log.server_key
        size = self.checkpoint.tree_size
        last = self.version
        key_events, key_proofs, history = self._keys
        return {
            "format": BUNDLE_FORMAT,
            "agreement_id": self.agreement_id,
            "generated_at": self.generated_at,
            "events": Streamed(
                lambda: (_event(w, link, size) for w in self._windows(last) for link in w.links)
            ),
            "revisions": Streamed(self._revisions),
            "parties": _parties(self.store, list(self.scan.party_ids), history),
            # Market notaries who countersigned a revision in force, with their keys.
            "notaries": _parties(self.store, list(self.scan.notary_ids), history),
            "key_events": key_events,
            "chain_head": self.scan.chain_head,
            "checkpoint": self.checkpoint.to_dict(),
            "inclusion_proofs": Streamed(
                lambda: (
                    proof
                    for w in self._windows(last)
                    for proof in _proofs(self.log, w, w.links, size)
                )
            ),
            "key_inclusion_proofs": key_proofs,
            **self._membership_members(),
            "server_public_key": key.public_key,
            "server_key_id": key.key_id,
        }

    def _membership_section(
        self, memberships_of: Callable[[str], list[str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The memberships of every signing party: their events under the checkpoint with
        inclusion proofs, and per signature those that held on its day as then known."""
        size = self.checkpoint.tree_size
        parties = dict.fromkeys(s.party_id for s in self.scan.signatures)
        ids = dict.fromkeys(m for party in parties for m in memberships_of(party))
        events: list[dict[str, Any]] = []
        proofs: list[dict[str, Any]] = []
        for membership_id in ids:
            stored = read_stored(self.store, self.log, UUID(membership_id))
            links = [
                link
                for link in stored.links
                if link.version in stored.leaves and stored.leaves[link.version].leaf_index < size
            ]
            events += [_event(stored, link, size) for link in links]
            proofs += _proofs(self.log, stored, links, size)
        order = sorted(range(len(events)), key=lambda i: events[i]["leaf_index"])
        events, proofs = [events[i] for i in order], [proofs[i] for i in order]
        folded = [
            (e["aggregate_id"], e["leaf_index"], e["topic"], json.loads(e["state"])) for e in events
        ]
        claims = []
        for signature in self.scan.signatures:
            leaf, day = self.scan.signed[signature.version]
            claims.append(
                {
                    "revision": signature.revision,
                    "party_id": signature.party_id,
                    "signed_leaf": leaf,
                    "signed_on": day.isoformat(),
                    "memberships": held_at_signature(folded, signature.party_id, leaf, day),
                }
            )
        return {
            "membership_events": events,
            "membership_inclusion_proofs": proofs,
            "memberships_at_signatures": claims,
        }

    def _membership_members(self) -> dict[str, list[dict[str, Any]]]:
        return {} if self._memberships is None else self._memberships

    def _revisions(self) -> Iterator[dict[str, Any]]:
        for number in sorted(self.scan.revisions):
            version = self.scan.revisions[number]
            stored = self.store.log.stored(self.key, (version, version))
            states = [(version, e.topic, json.loads(e.state)) for e in stored]
            revision = read_record(self.agreement_id, states).revisions[number]
            yield {
                "number": number,
                "content": revision.content,
                "signing_payload": payload_bytes(
                    self.agreement_id, number, revision.content
                ).decode("utf-8"),
                "content_hash": content_digest(revision.content),
                "signatures": [
                    {"party_id": s.party_id, "key_id": s.key_id, "signature": s.signature}
                    for s in self.scan.signatures
                    if s.revision == number
                ],
                "notarisations": [
                    {"party_id": n.party_id, "key_id": n.key_id, "signature": n.signature}
                    for n in self.scan.notarisations
                    if n.revision == number
                ],
            }

    # ------------------------------------------------------------------ writing

    def chunks(self) -> Iterator[bytes]:
        """The bundle file's bytes, a piece at a time: hashed in a first pass, signed, then
        written in its fixed layout in a second."""
        members = self.members()
        digest = hashlib.sha256()
        for chunk in jcs_chunks(members):
            digest.update(chunk)
        signature = self.log.server_key.sign(bundle_statement(digest.hexdigest()))
        yield from layout_chunks({**members, "bundle_signature": signature})

    def to_dict(self) -> dict[str, Any]:
        """The whole bundle in memory (for tests and small callers)."""
        bundle: dict[str, Any] = json.loads(b"".join(self.chunks()))
        return bundle


def build_bundle(
    store: EventStore,
    log: IntegrityLog,
    viewer: Principal,
    agreement_id: str,
    memberships_of: Callable[[str], list[str]] | None = None,
) -> EvidenceBundle:
    """The evidence bundle of an agreement, under a checkpoint covering all its events (and
    its signers' memberships when `memberships_of` names each party's memberships)."""
    return EvidenceBundle(store, log, viewer, agreement_id, memberships_of)


def _key_section(
    store: EventStore, log: IntegrityLog, party_ids: list[str], size: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], KeyHistory]:
    """The parties' key events the checkpoint covers, in log order, with their proofs."""
    key_events: list[dict[str, Any]] = []
    key_proofs: list[dict[str, Any]] = []
    for party in _key_stores(store, log, party_ids):
        links = [
            link
            for link in party.links
            if link.topic in KEY_TOPICS
            and link.version in party.leaves
            and party.leaves[link.version].leaf_index < size
        ]
        key_events += [_event(party, link, size) for link in links]
        key_proofs += _proofs(log, party, links, size)
    order = sorted(range(len(key_events)), key=lambda i: key_events[i]["leaf_index"])
    key_events = [key_events[i] for i in order]
    key_proofs = [key_proofs[i] for i in order]
    history = read_key_history(
        (e["aggregate_id"], e["leaf_index"], e["topic"], json.loads(e["state"])) for e in key_events
    )
    return key_events, key_proofs, history


def _event(stored: StoredAggregate, link: ChainLink, size: int) -> dict[str, Any]:
    # A leaf logged after the checkpoint is not part of this bundle: both passes of the
    # writer see the same bundle, whatever the log does meanwhile.
    leaf = stored.leaves.get(link.version)
    if leaf is not None and leaf.leaf_index >= size:
        leaf = None
    return {
        "position": stored.positions.get(link.version),
        "leaf_index": None if leaf is None else leaf.leaf_index,
        "aggregate_id": link.aggregate_id,
        "version": link.version,
        "topic": link.topic,
        "state": link.state.decode("utf-8"),
        "hash": link.hash,
        "prev_hash": link.prev_hash,
    }


def _proofs(
    log: IntegrityLog, stored: StoredAggregate, links: list[ChainLink], size: int
) -> list[dict[str, Any]]:
    indices = []
    for link in links:
        leaf = stored.leaves.get(link.version)
        if leaf is not None and leaf.leaf_index < size:
            indices.append(leaf.leaf_index)
    paths = log.inclusion_proofs(indices, size)
    return [
        {"leaf_index": index, "tree_size": size, "path": path}
        for index, path in zip(indices, paths, strict=True)
    ]


def _key_stores(
    store: EventStore, log: IntegrityLog, party_ids: list[str]
) -> list[StoredAggregate]:
    parties = []
    for party_id in party_ids:
        try:
            parties.append(read_stored(store, log, UUID(party_id)))
        except (ValueError, TypeError):
            continue
    return parties


def _parties(store: EventStore, party_ids: list[str], history: KeyHistory) -> list[dict[str, Any]]:
    parties: list[dict[str, Any]] = []
    for party_id in party_ids:
        try:
            party = store.party(party_id)
        except DomainError:
            parties.append(
                {
                    "party_id": party_id,
                    "name": None,
                    "sector": None,
                    "keys": history.of_party(party_id),
                }
            )
            continue
        parties.append(
            {
                "party_id": party_id,
                "name": party.details.name,
                "sector": party.sector.value,
                "keys": history.of_party(party_id),
            }
        )
    return parties
