"""Verification of one agreement: its chain, its signatures, its inclusion in the signed log.

Everything is read from the stored records, never from decoded aggregates, so an agreement
whose events were damaged can still be examined and its damage reported check by check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from tris.application.access import Principal
from tris.application.errors import LogTamperedError, ServerKeyError
from tris.application.integrity.log import IntegrityLog
from tris.application.integrity.stored import StoredAggregate, may_read, read_stored
from tris.application.store import EventStore
from tris.domain.errors import AgreementNotFoundError, DomainError
from tris.domain.proofs.chain import chain_problems, recompute
from tris.domain.proofs.merkle import leaf_hash, verify_inclusion
from tris.domain.proofs.record import (
    AgreementRecord,
    is_agreement_topic,
    read_record,
    signature_checks,
)
from tris.domain.proofs.signed import Check, Checkpoint, rfc3339, utc_now

PublicKeys = dict[tuple[str, str], bytes]


@dataclass(frozen=True)
class StoredAgreement:
    """An agreement's stored events and the revisions and signatures they record."""

    stored: StoredAggregate
    record: AgreementRecord


def load_agreement(
    store: EventStore, log: IntegrityLog, viewer: Principal, agreement_id: str
) -> StoredAgreement:
    """The stored agreement if this viewer may see it, else AgreementNotFoundError."""
    missing = AgreementNotFoundError(f"no agreement {agreement_id} visible to this token")
    try:
        key = UUID(agreement_id)
    except (ValueError, TypeError, AttributeError):
        raise missing from None
    stored = read_stored(store, log, key)
    if not any(is_agreement_topic(link.topic) for link in stored.links):
        raise missing
    record = read_record(stored.aggregate_id, stored.states())
    if not may_read(store, viewer, stored.aggregate_id, record.party_ids):
        raise missing
    return StoredAgreement(stored, record)


def party_keys(store: EventStore, party_ids: list[str]) -> PublicKeys:
    """Every key each party ever registered (revoked keys still verify old signatures)."""
    keys: PublicKeys = {}
    for party_id in party_ids:
        try:
            party = store.party(party_id)
        except DomainError:
            continue
        for key in party.keys.values():
            keys[(party_id, key.key_id)] = key.public_key
    return keys


def chain_check(stored: StoredAggregate) -> Check:
    """The chain recomputed from the stored events and compared with the recorded hashes."""
    problems = chain_problems(stored.links)
    present = {link.version for link in stored.links}
    problems += [
        f"version {v} was recorded but its event is missing"
        for v in sorted(set(stored.recorded) - present)
    ]
    if problems:
        return Check("chain", False, "; ".join(problems))
    head = stored.links[-1].hash if stored.links else ""
    return Check("chain", True, f"{len(stored.links)} events link up to head {head}")


def inclusion_checks(
    stored: StoredAggregate, log: IntegrityLog, checkpoint: Checkpoint | None
) -> list[Check]:
    """One check per event: its recomputed hash is a leaf under the checkpoint's root."""
    checks = []
    for link in stored.links:
        position = stored.positions.get(link.version)
        name = f"inclusion of version {link.version} (position {position})"
        leaf = stored.leaves.get(link.version)
        digest = recompute(link, link.prev_hash or "")
        if leaf is None:
            checks.append(Check(name, False, "the event is not in the log"))
        elif leaf.position != position:
            checks.append(
                Check(name, False, f"logged at position {leaf.position}, stored at {position}")
            )
        elif checkpoint is None or leaf.leaf_index >= checkpoint.tree_size:
            checks.append(Check(name, False, "no checkpoint covers this event"))
        elif digest is None:
            checks.append(Check(name, False, "the stored event is not JSON"))
        else:
            ok = _proves(log, digest, leaf.leaf_index, checkpoint)
            detail = (
                f"leaf {leaf.leaf_index} is under the root of tree size {checkpoint.tree_size}"
                if ok
                else f"leaf {leaf.leaf_index} does not prove against the signed root"
            )
            checks.append(Check(name, ok, detail))
    return checks


def _proves(log: IntegrityLog, digest: str, leaf_index: int, checkpoint: Checkpoint) -> bool:
    """True when the event hash is the leaf at `leaf_index` under the checkpoint's root."""
    try:
        root = bytes.fromhex(checkpoint.root_hash)
        path = [bytes.fromhex(p) for p in log.inclusion_proof(leaf_index, checkpoint.tree_size)]
    except (ValueError, DomainError):
        return False  # a damaged checkpoint, or a log shorter than it claims
    leaf = leaf_hash(bytes.fromhex(digest))
    return verify_inclusion(leaf, leaf_index, checkpoint.tree_size, path, root)


def covering_checkpoint(
    log: IntegrityLog, stored: StoredAggregate
) -> tuple[Checkpoint | None, Check]:
    """The latest checkpoint and whether it covers the aggregate's logged events (none is
    signed here: checkpoints are signed on schedule or by an admin)."""
    log.catch_up()
    leaves = log.leaves_of(stored.aggregate_id)
    needed = max((leaf.leaf_index + 1 for leaf in leaves.values()), default=0)
    try:
        checkpoint = log.covering_checkpoint(needed)
    except (LogTamperedError, ServerKeyError) as exc:
        latest = log.latest_checkpoint()
        return latest, Check(
            "checkpoint", False, exc.detail if isinstance(exc, DomainError) else str(exc)
        )
    if checkpoint is None:
        return log.latest_checkpoint(), Check(
            "checkpoint",
            False,
            f"no signed checkpoint covers its {needed} leaves yet: the next is signed on "
            "schedule or by an admin",
        )
    if not log.checkpoint_signed(checkpoint):
        return checkpoint, Check(
            "checkpoint",
            False,
            f"checkpoint of tree size {checkpoint.tree_size} is not signed by this server's key",
        )
    return checkpoint, Check(
        "checkpoint",
        True,
        f"tree size {checkpoint.tree_size} issued at {checkpoint.issued_at}, "
        f"signed by server key {checkpoint.key_id}",
    )


def verify_agreement(
    store: EventStore, log: IntegrityLog, viewer: Principal, agreement_id: str
) -> dict[str, Any]:
    """Every check of one agreement, each with its result, and whether all passed."""
    agreement = load_agreement(store, log, viewer, agreement_id)
    stored, record = agreement.stored, agreement.record
    checks = [chain_check(stored)]
    if record.problems:
        checks.append(Check("record", False, "; ".join(record.problems)))
    signatures = signature_checks(record, party_keys(store, record.signer_ids))
    checks += signatures or [Check("signatures", True, "no revision has been signed yet")]
    checkpoint, checkpoint_check = covering_checkpoint(log, stored)
    # The leaves may have been appended just now, by the checkpoint's catch-up.
    stored = replace(stored, leaves=log.leaves_of(stored.aggregate_id))
    checks.append(checkpoint_check)
    checks += inclusion_checks(stored, log, checkpoint)
    return {
        "agreement_id": stored.aggregate_id,
        "version": max((link.version for link in stored.links), default=0),
        "ok": all(c.ok for c in checks),
        "checked_at": rfc3339(utc_now()),
        "chain_head": stored.links[-1].hash if stored.links else None,
        "checkpoint": None if checkpoint is None else checkpoint.to_dict(),
        "checks": [c.to_dict() for c in checks],
        "signing_keys": key_registrations(store, record.signer_ids),
    }


def key_registrations(store: EventStore, party_ids: list[str]) -> list[dict[str, Any]]:
    """Each key of these parties: whether it was registered with a proof, and revoked."""
    found = []
    for party_id in party_ids:
        try:
            party = store.party(party_id)
        except DomainError:
            continue
        found += [
            {"party_id": party_id, "key_id": k.key_id, "proven": k.proven, "revoked": k.revoked}
            for k in party.keys.values()
        ]
    return found
