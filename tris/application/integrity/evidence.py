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
    bundle_signature  the server's signature of the JCS of everything else
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from tris.application.access import Principal
from tris.application.errors import CheckpointPendingError
from tris.application.integrity.log import IntegrityLog
from tris.application.integrity.stored import StoredAggregate, read_stored
from tris.application.integrity.verification import load_agreement
from tris.application.store import EventStore
from tris.domain.errors import DomainError
from tris.domain.proofs.chain import ChainLink
from tris.domain.proofs.keys import KEY_TOPICS, KeyHistory, read_key_history
from tris.domain.proofs.record import AgreementRecord, content_digest, payload_bytes
from tris.domain.proofs.signed import BUNDLE_FORMAT, bundle_payload, rfc3339, utc_now


def build_bundle(
    store: EventStore, log: IntegrityLog, viewer: Principal, agreement_id: str
) -> dict[str, Any]:
    """The signed evidence bundle of an agreement, under a checkpoint covering all its events."""
    loaded = load_agreement(store, log, viewer, agreement_id)
    log.catch_up()
    leaves = log.leaves_of(loaded.stored.aggregate_id)
    checkpoint = log.covering_checkpoint(
        max((x.leaf_index + 1 for x in leaves.values()), default=0)
    )
    if checkpoint is None:
        raise CheckpointPendingError(
            f"no signed checkpoint covers every event of agreement {agreement_id} yet; "
            "checkpoints are signed on schedule or by an admin (POST /v1/checkpoints): "
            "ask again after the next one"
        )
    stored, record = loaded.stored, loaded.record
    size = checkpoint.tree_size
    events = [_event(stored, link) for link in stored.links]
    proofs = _proofs(log, stored, stored.links, size)
    key_events: list[dict[str, Any]] = []
    key_proofs: list[dict[str, Any]] = []
    for party in _key_stores(store, log, record.party_ids):
        links = [
            link
            for link in party.links
            if link.topic in KEY_TOPICS
            and link.version in party.leaves
            and party.leaves[link.version].leaf_index < size
        ]
        key_events += [_event(party, link) for link in links]
        key_proofs += _proofs(log, party, links, size)
    order = sorted(range(len(key_events)), key=lambda i: key_events[i]["leaf_index"])
    key_events = [key_events[i] for i in order]
    key_proofs = [key_proofs[i] for i in order]
    history = read_key_history(
        (e["aggregate_id"], e["leaf_index"], e["topic"], json.loads(e["state"])) for e in key_events
    )
    key = log.server_key
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "agreement_id": stored.aggregate_id,
        "generated_at": rfc3339(utc_now()),
        "events": events,
        "revisions": _revisions(record),
        "parties": _parties(store, record.party_ids, history),
        "key_events": key_events,
        "chain_head": stored.links[-1].hash if stored.links else None,
        "checkpoint": checkpoint.to_dict(),
        "inclusion_proofs": proofs,
        "key_inclusion_proofs": key_proofs,
        "server_public_key": key.public_key,
        "server_key_id": key.key_id,
    }
    bundle["bundle_signature"] = key.sign(bundle_payload(bundle))
    return bundle


def _event(stored: StoredAggregate, link: ChainLink) -> dict[str, Any]:
    leaf = stored.leaves.get(link.version)
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
    proofs = []
    for link in links:
        leaf = stored.leaves.get(link.version)
        if leaf is not None and leaf.leaf_index < size:
            proofs.append(
                {
                    "leaf_index": leaf.leaf_index,
                    "tree_size": size,
                    "path": log.inclusion_proof(leaf.leaf_index, size),
                }
            )
    return proofs


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


def _revisions(record: AgreementRecord) -> list[dict[str, Any]]:
    revisions = []
    for number in sorted(record.revisions):
        revision = record.revisions[number]
        revisions.append(
            {
                "number": number,
                "content": revision.content,
                "signing_payload": payload_bytes(
                    record.agreement_id, number, revision.content
                ).decode("utf-8"),
                "content_hash": content_digest(revision.content),
                "signatures": [
                    {"party_id": s.party_id, "key_id": s.key_id, "signature": s.signature}
                    for s in record.signatures
                    if s.revision == number
                ],
            }
        )
    return revisions


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
