"""The verifiable history's use cases, as the interfaces call them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import IntegrityError

from tris.application.access import Principal
from tris.application.errors import TreeNotFoundError
from tris.application.integrity.audit import AuditReport, audit_store
from tris.application.integrity.evidence import EvidenceBundle, build_bundle
from tris.application.integrity.keys import ServerKey, key_path, load_server_key
from tris.application.integrity.log import IntegrityLog
from tris.application.integrity.verification import verify_agreement
from tris.application.store import EventStore, IdempotencyRequest, Outcome
from tris.config import Settings
from tris.domain.proofs.offline import key_fingerprint_sha256
from tris.domain.proofs.signed import Checkpoint
from tris.storage.idempotency import IdempotencyRecord

log = logging.getLogger(__name__)


class Integrity:
    """Checkpoints, proofs, per-agreement verification, evidence bundles and the store audit."""

    def __init__(self, store: EventStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.log = IntegrityLog(store.log, self._load_key)
        self._key: ServerKey | None = None
        self._key_lock = threading.Lock()
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    def _load_key(self) -> ServerKey:
        with self._key_lock:
            if self._key is None:
                path, create = key_path(self.settings)
                self._key = load_server_key(path, create=create)
            return self._key

    def derived_key(self, purpose: bytes) -> bytes:
        """A secret derived from the server key for one purpose; it lives where the key does."""
        return self._load_key().derive(purpose)

    def check_configuration(self) -> None:
        """Load (or, for SQLite, create) the server key now: ServerKeyError if impossible."""
        self._load_key()

    # ------------------------------------------------------------------ the log

    def server_key(self) -> dict[str, Any]:
        """The server's public key, which every checkpoint and bundle signature verifies under."""
        key = self._load_key()
        return {
            "algorithm": "Ed25519",
            "key_id": key.key_id,
            "public_key": key.public_key,
            "fingerprint": key_fingerprint_sha256(key.public_bytes),
        }

    def latest_checkpoint(self) -> dict[str, Any]:
        """The latest checkpoint, or TreeNotFoundError when none has been signed yet."""
        checkpoint = self.log.latest_checkpoint()
        if checkpoint is None:
            raise TreeNotFoundError(
                "no checkpoint has been signed yet; checkpoints are signed on schedule "
                f"(every {self.interval_text()}) or by an admin (POST /v1/checkpoints)"
            )
        return checkpoint.to_dict()

    def interval_text(self) -> str:
        """The checkpoint schedule, for messages."""
        seconds = self.settings.checkpoint_interval_seconds
        return f"{seconds:g} s" if seconds > 0 else "never: no schedule is configured"

    def issue_checkpoint(self) -> dict[str, Any]:
        """Log every new event and sign a checkpoint now."""
        return self.log.issue_checkpoint().to_dict()

    def issue_checkpoint_once(
        self, token_id: str, idempotency: IdempotencyRequest | None = None
    ) -> Outcome:
        """Issue a checkpoint at most once per Idempotency-Key of the issuing token.

        A retry with the same key and request gets the first checkpoint again, from any
        process and after a restart: the key's record is kept with the checkpoint.
        """
        if idempotency is None:
            return Outcome(self.issue_checkpoint(), status=201)
        store = self.store
        earlier = store.earlier(token_id, idempotency)
        if earlier is not None:
            return earlier
        store.idempotency.drop_expired(token_id, idempotency.key)

        def record(checkpoint: Checkpoint) -> IdempotencyRecord:
            return IdempotencyRecord(
                token_id,
                idempotency.key,
                idempotency.fingerprint,
                idempotency.status,
                checkpoint.to_dict(),
            )

        with store.in_flight(token_id, idempotency):
            try:
                checkpoint = self.log.issue_checkpoint(record)
            except IntegrityError:
                # Another process committed this key first; its checkpoint is the answer.
                earlier = store.earlier(token_id, idempotency)
                if earlier is not None:
                    return earlier
                raise
        return Outcome(checkpoint.to_dict(), idempotency.status)

    def inclusion(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The inclusion proof of the event at a global position in a tree of some size.

        Without a size, the latest checkpoint's; TreeNotFoundError when none covers the event yet.
        """
        self.log.catch_up()
        leaf = self.log.leaf_at(position)
        if tree_size is None:
            covering = self.log.covering_checkpoint(leaf.leaf_index + 1)
            if covering is None:
                raise TreeNotFoundError(
                    f"no signed checkpoint covers the event at position {position} yet; the "
                    f"next is signed on schedule ({self.interval_text()}) or by an admin"
                )
            tree_size = covering.tree_size
        if leaf.leaf_index >= tree_size:
            raise TreeNotFoundError(
                f"the event at position {position} is leaf {leaf.leaf_index}, "
                f"not in a tree of size {tree_size}"
            )
        recorded = self.log.recorded_hashes(leaf.aggregate_id).get(leaf.version)
        return {
            "position": position,
            "leaf_index": leaf.leaf_index,
            "tree_size": tree_size,
            "aggregate_id": leaf.aggregate_id,
            "version": leaf.version,
            "event_hash": None if recorded is None else recorded[0],
            "leaf_hash": leaf.leaf_hash,
            "root_hash": self.log.root(tree_size),
            "path": self.log.inclusion_proof(leaf.leaf_index, tree_size),
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """The proof that the log of size `first` is a prefix of the log of size `second`."""
        if second > self.log.size():
            self.log.catch_up()
        return {
            "first": first,
            "second": second,
            "first_root": self.log.root(first) if 0 <= first <= second else None,
            "second_root": self.log.root(second),
            "path": self.log.consistency_proof(first, second),
        }

    # ------------------------------------------------------------------ agreements

    def verification(self, viewer: Principal, agreement_id: str) -> dict[str, Any]:
        """Each check of one agreement (chain, signatures, inclusion) with its result."""
        return verify_agreement(self.store, self.log, viewer, agreement_id)

    def evidence(self, viewer: Principal, agreement_id: str) -> dict[str, Any]:
        """The signed, self-contained evidence bundle of one agreement, whole in memory."""
        return self.evidence_bundle(viewer, agreement_id).to_dict()

    def evidence_bundle(
        self,
        viewer: Principal,
        agreement_id: str,
        memberships_of: Callable[[str], list[str]] | None = None,
    ) -> EvidenceBundle:
        """The evidence bundle of one agreement, checked and ready to be written a piece
        at a time (AgreementNotFoundError, CheckpointPendingError before any byte); with
        `memberships_of`, the signing parties' memberships at each signature as well."""
        return build_bundle(self.store, self.log, viewer, agreement_id, memberships_of)

    def audit(self) -> AuditReport:
        """Recompute every chain and the log, and compare them with the kept checkpoints."""
        return audit_store(self.store, self.log)

    # ------------------------------------------------------------------ schedule

    def issue_if_due(self) -> Checkpoint | None:
        """Issue a checkpoint when events were logged since the latest one."""
        size = self.log.catch_up()
        latest = self.log.latest_checkpoint()
        if latest is not None and latest.tree_size >= size:
            return None
        return self.log.issue_checkpoint()

    def start_schedule(self, interval: float) -> None:
        """Issue checkpoints every `interval` seconds in a background thread until `close`."""
        if interval <= 0 or self._scheduler is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.issue_if_due()
                except Exception:  # a failed round is logged; the next one tries again
                    log.exception("scheduled checkpoint failed")

        self._scheduler = threading.Thread(target=run, name="tris-checkpoints", daemon=True)
        self._scheduler.start()

    def close(self) -> None:
        """Stop the schedule."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
