"""The store audit: every chain and the whole Merkle log recomputed and held against the
checkpoints that were signed, reporting each event changed, removed, inserted or reordered
behind TRIS's back.

What the kinds of finding mean:

    changed     an event's stored fields no longer give its recorded hash
    removed     an event that was recorded (hash or leaf) is no longer stored
    inserted    a stored event that TRIS never recorded (no hash, or no leaf inside the log)
    reordered   an event sits at another version or position than where it was recorded
    chain       recorded hashes no longer link version to version
    log         the leaf table itself was altered (a gap, a changed or reordered leaf)
    checkpoint  a signed checkpoint does not match the log as stored now, or is not signed
    signature   a party's signature does not verify for the revision it signs
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tris.application.errors import ServerKeyError
from tris.application.integrity.log import IntegrityLog, Leaf
from tris.application.integrity.stored import StoredAggregate, read_stored
from tris.application.integrity.verification import party_keys
from tris.application.store import EventStore
from tris.domain.proofs.chain import ChainLink, event_hash, leaf_for, recompute
from tris.domain.proofs.merkle import HASH_BYTES, LeafHashes, MerkleTree
from tris.domain.proofs.record import is_agreement_topic, read_record, signature_checks
from tris.domain.proofs.signed import Checkpoint


class PublicKeys(dict[tuple[str, str], bytes]):
    """Party keys by (party id, key id), remembering which parties were loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.parties: set[str] = set()


@dataclass(frozen=True)
class Finding:
    """One thing found wrong: its kind, where, and what."""

    kind: str
    detail: str
    aggregate_id: str | None = None
    version: int | None = None
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "kind": self.kind,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "position": self.position,
            "detail": self.detail,
        }


@dataclass
class AuditReport:
    """What the audit looked at and what it found."""

    events: int = 0
    aggregates: int = 0
    leaves: int = 0
    checkpoints: int = 0
    pending: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "ok": self.ok,
            "events": self.events,
            "aggregates": self.aggregates,
            "leaves": self.leaves,
            "checkpoints": self.checkpoints,
            "pending": self.pending,
            "findings": [f.to_dict() for f in self.findings],
        }


def audit_store(store: EventStore, log: IntegrityLog) -> AuditReport:
    """Recompute every chain and the log from the database and compare with the checkpoints."""
    report = AuditReport()
    head = log.rows.last_position()
    keys = PublicKeys()
    for aggregate_id in _aggregate_ids(store, log):
        stored = read_stored(store, log, aggregate_id)
        report.aggregates += 1
        report.events += len(stored.links)
        report.findings += _aggregate_findings(stored, head)
        report.pending += sum(
            1 for v, p in stored.positions.items() if p > head and v not in stored.leaves
        )
        if any(is_agreement_topic(link.topic) for link in stored.links):
            report.findings += _signature_findings(store, stored, keys)
    hashes = _leaf_findings(log.iter_leaves(), report)
    report.leaves = len(hashes)
    _checkpoint_findings(log, hashes, report)
    return report


def _aggregate_ids(store: EventStore, log: IntegrityLog) -> list[UUID]:
    """Every aggregate id found in the event table, the hash chain or the Merkle log."""
    ids = {*store.log.aggregate_ids(), *log.hashes.aggregate_ids(), *log.rows.aggregate_ids()}
    return sorted((UUID(i) for i in ids), key=str)


def _aggregate_findings(stored: StoredAggregate, head: int) -> list[Finding]:
    aid = stored.aggregate_id
    findings: list[Finding] = []
    by_version = {link.version: link for link in stored.links}

    def finding(kind: str, version: int, detail: str, position: int | None = None) -> None:
        where = stored.positions.get(version) if position is None else position
        findings.append(Finding(kind, detail, aid, version, where))

    mismatched: list[ChainLink] = []
    for link in stored.links:
        recorded = stored.recorded.get(link.version)
        if recorded is None:
            finding("inserted", link.version, "stored, but TRIS never recorded a hash for it")
            continue
        if recompute(link, recorded[1]) != recorded[0]:
            mismatched.append(link)
        if link.version > 1:
            before = stored.recorded.get(link.version - 1)
            if before is not None and before[0] != recorded[1]:
                finding("chain", link.version, "its recorded hash does not link to the previous")
    findings += _classify_mismatches(stored, mismatched)

    for version in sorted(set(stored.recorded) | set(stored.leaves)):
        if version not in by_version:
            leaf = stored.leaves.get(version)
            finding(
                "removed",
                version,
                "recorded by TRIS, no longer stored",
                None if leaf is None else leaf.position,
            )

    for link in stored.links:
        leaf = stored.leaves.get(link.version)
        position = stored.positions.get(link.version)
        recorded = stored.recorded.get(link.version)
        if leaf is None:
            if recorded is not None and position is not None and position < head:
                finding("inserted", link.version, "stored inside the log's range but not logged")
        elif leaf.position != position:
            finding(
                "reordered",
                link.version,
                f"logged at position {leaf.position}, now stored at position {position}",
            )
        elif recorded is not None and leaf.leaf_hash != leaf_for(recorded[0]):
            finding("log", link.version, f"leaf {leaf.leaf_index} does not match the event hash")
    return findings


def _classify_mismatches(stored: StoredAggregate, mismatched: list[ChainLink]) -> list[Finding]:
    """Tell a moved event (it matches another version's record) from a changed one."""
    findings = []
    for link in mismatched:
        moved_from = None
        for other, (digest, prev) in stored.recorded.items():
            if other == link.version:
                continue
            try:
                if event_hash(link.aggregate_id, other, link.topic, link.state, prev) == digest:
                    moved_from = other
                    break
            except (ValueError, TypeError, UnicodeDecodeError):
                break
        position = stored.positions.get(link.version)
        if moved_from is None:
            detail = "its stored fields no longer give its recorded hash"
            findings.append(Finding("changed", detail, link.aggregate_id, link.version, position))
        else:
            detail = (
                f"the event recorded as version {moved_from} is stored as version {link.version}"
            )
            findings.append(Finding("reordered", detail, link.aggregate_id, link.version, position))
    return findings


def _signature_findings(
    store: EventStore, stored: StoredAggregate, keys: PublicKeys
) -> list[Finding]:
    record = read_record(stored.aggregate_id, stored.states())
    findings = [Finding("changed", p, stored.aggregate_id) for p in record.problems]
    # Party keys are loaded once per audit, not once per agreement.
    missing = [p for p in record.signer_ids if p not in keys.parties]
    keys.update(party_keys(store, missing))
    keys.parties.update(missing)
    for check in signature_checks(record, keys):
        if not check.ok:
            findings.append(
                Finding("signature", f"{check.name}: {check.detail}", stored.aggregate_id)
            )
    return findings


def _leaf_findings(leaves: Iterable[Leaf], report: AuditReport) -> LeafHashes:
    """Check the leaf table is contiguous and in position order; return its leaf hashes."""
    hashes = LeafHashes()
    previous: Leaf | None = None
    for leaf in leaves:
        if leaf.leaf_index != len(hashes):
            report.findings.append(
                Finding("log", f"leaf {len(hashes)} is missing from the log", position=None)
            )
            break
        if previous is not None and leaf.position <= previous.position:
            report.findings.append(
                Finding(
                    "log",
                    f"leaf {leaf.leaf_index} is out of position order",
                    leaf.aggregate_id,
                    leaf.version,
                    leaf.position,
                )
            )
        try:
            digest = bytes.fromhex(leaf.leaf_hash)
        except ValueError:
            digest = b""
        if len(digest) != HASH_BYTES:
            report.findings.append(
                Finding("log", f"leaf {leaf.leaf_index} is not a hash", position=leaf.position)
            )
            break
        hashes.append(digest)
        previous = leaf
    return hashes


def _checkpoint_findings(log: IntegrityLog, hashes: LeafHashes, report: AuditReport) -> None:
    tree = MerkleTree(hashes)
    checkpoints = log.checkpoints()
    report.checkpoints = len(checkpoints)
    matched = 0
    for checkpoint in checkpoints:
        _signature_of(log, checkpoint, report)
        if checkpoint.tree_size > len(hashes):
            report.findings.append(
                Finding(
                    "checkpoint",
                    f"checkpoint of {checkpoint.issued_at} covers {checkpoint.tree_size} leaves, "
                    f"the log now has {len(hashes)}",
                )
            )
        elif tree.root(checkpoint.tree_size).hex() != checkpoint.root_hash:
            report.findings.append(
                Finding(
                    "checkpoint",
                    f"checkpoint of {checkpoint.issued_at} (tree size {checkpoint.tree_size}) "
                    f"does not match the stored log: leaves {matched} to "
                    f"{checkpoint.tree_size - 1} were altered after it was signed",
                )
            )
        else:
            matched = max(matched, checkpoint.tree_size)


def _signature_of(log: IntegrityLog, checkpoint: Checkpoint, report: AuditReport) -> None:
    try:
        signed = log.checkpoint_signed(checkpoint)
    except ServerKeyError as exc:
        report.findings.append(Finding("checkpoint", f"cannot check signatures: {exc}"))
        return
    if not signed:
        report.findings.append(
            Finding(
                "checkpoint",
                f"checkpoint of {checkpoint.issued_at} (tree size {checkpoint.tree_size}) "
                "is not validly signed by this server's key",
            )
        )
