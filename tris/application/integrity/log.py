"""The Merkle log over every event in global order, and the checkpoints that sign it.

Leaf i is the hash chain entry of the i-th logged event (positions of the library's
notification log, gaps skipped). Leaves are appended by `catch_up`, which any process may
run at any time: a race on a leaf index fails on the primary key and is retried. Leaf
hashes are kept in memory per process, append-only, so roots and proofs are computed from
memoised subtrees instead of from the database on every request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Notification

from tris.application.errors import LogEntryNotFoundError, LogTamperedError, TreeNotFoundError
from tris.application.integrity.keys import ServerKey
from tris.domain.proofs.chain import leaf_for
from tris.domain.proofs.merkle import HASH_BYTES, LeafHashes, MerkleTree
from tris.domain.proofs.signed import (
    Checkpoint,
    Clock,
    checkpoint_payload,
    rfc3339,
    server_signature_valid,
    utc_now,
)
from tris.storage.eventlog import EventLog
from tris.storage.hashes import EventHashes
from tris.storage.idempotency import IdempotencyRecord
from tris.storage.merkle_log import LeafRow, MerkleLogRows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leaf:
    """One logged event: its leaf index, global position, identity and leaf hash (hex)."""

    leaf_index: int
    position: int
    aggregate_id: str
    version: int
    leaf_hash: str


_REFRESH_BATCH = 50_000


class IntegrityLog:
    """Appends events to the Merkle log, serves roots and proofs, and issues checkpoints."""

    def __init__(
        self,
        events: EventLog,
        server_key: Callable[[], ServerKey],
        *,
        clock: Clock = utc_now,
        batch_size: int = 500,
    ) -> None:
        self.events = events
        self.rows = MerkleLogRows(events.database)
        self.hashes = EventHashes(events.database)
        self._server_key = server_key
        self._clock = clock
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._leaves = LeafHashes()
        self._tree = MerkleTree(self._leaves)

    @property
    def server_key(self) -> ServerKey:
        """The server's signing key (loaded, or created for SQLite, on first use)."""
        return self._server_key()

    # ------------------------------------------------------------------ appending

    def catch_up(self) -> int:
        """Append every event not yet logged, in position order; return the log size."""
        while True:
            last = self._last_leaf()
            next_index = 0 if last is None else last.leaf_index + 1
            after = None if last is None else last.position
            raced = False
            while True:
                notes = self.events.notifications(after, self.batch_size)
                if not notes:
                    break
                rows = self._leaf_rows(notes, next_index)
                if rows and not self.rows.insert_leaves(rows):
                    raced = True
                    break
                next_index += len(rows)
                after = notes[-1].id
                if len(notes) < self.batch_size:
                    break
            if not raced:
                return self.size()

    def _leaf_rows(self, notes: Sequence[Notification], first_index: int) -> list[LeafRow]:
        keys = [(str(UUID(str(n.originator_id))), n.originator_version) for n in notes]
        recorded = self.hashes.of(keys)
        rows: list[LeafRow] = []
        for note, key in zip(notes, keys, strict=True):
            leaf = leaf_for(recorded.get(key, ""))
            if leaf is None:
                # Not written by TRIS's recorders: left out, and reported by the store audit.
                log.warning("event %s v%s at position %s has no recorded hash", *key, note.id)
                continue
            rows.append((first_index + len(rows), note.id, key[0], key[1], leaf))
        return rows

    # ------------------------------------------------------------------ reading leaves

    def _last_leaf(self) -> Leaf | None:
        row = self.rows.last_leaf()
        return None if row is None else Leaf(*row)

    def size(self) -> int:
        """The number of leaves in the log (refreshing this process's copy)."""
        with self._lock:
            self._refresh()
            return len(self._leaves)

    def _refresh(self) -> None:
        last = self._last_leaf()
        stored = 0 if last is None else last.leaf_index + 1
        if stored < len(self._leaves):
            # Leaves vanished behind TRIS's back: start again from what is stored.
            self._leaves.clear()
            self._tree = MerkleTree(self._leaves)
        while stored > len(self._leaves):
            start = len(self._leaves)
            rows = self.rows.leaf_hashes_from(start, _REFRESH_BATCH)
            # Indices are unique, so a run is contiguous when its ends are `len - 1` apart.
            if not rows or int(rows[0][0]) != start:
                return  # a gap: the log ends where it stops being contiguous
            packed = _unhex("".join(str(r[1]) for r in rows), len(rows))
            if packed is not None and int(rows[-1][0]) - start + 1 == len(rows):
                self._leaves.extend(packed)
                continue
            for index, digest in rows:
                leaf = _unhex(str(digest), 1)
                if int(index) != len(self._leaves) or leaf is None:
                    return  # a gap or a damaged leaf: the log ends before it
                self._leaves.append(leaf)

    def leaf_at(self, position: int) -> Leaf:
        """The leaf of the event at a global position, or LogEntryNotFoundError."""
        row = self.rows.leaf_at(position)
        if row is None:
            raise LogEntryNotFoundError(f"no event at position {position} is in the log")
        return Leaf(*row)

    def leaves_of(
        self, aggregate_id: str, versions: tuple[int, int] | None = None
    ) -> dict[int, Leaf]:
        """The leaves of one aggregate's events, by version (from and to `versions`)."""
        leaves = (Leaf(*row) for row in self.rows.leaves_of(aggregate_id, versions))
        return {leaf.version: leaf for leaf in leaves}

    def iter_leaves(self, batch: int = 5000) -> Iterator[Leaf]:
        """Every stored leaf row in leaf-index order, read afresh from the database."""
        after = -1
        while True:
            rows = [Leaf(*row) for row in self.rows.leaves_after(after, batch)]
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].leaf_index

    def recorded_hashes(
        self, aggregate_id: str, versions: tuple[int, int] | None = None
    ) -> dict[int, tuple[str, str]]:
        """(hash, prev_hash) recorded for each version of one aggregate (from and to the
        versions given)."""
        return self.hashes.chain(aggregate_id, versions)

    # ------------------------------------------------------------------ roots and proofs

    def root(self, tree_size: int) -> str:
        """The hex root hash of the first `tree_size` leaves."""
        with self._lock:
            self._require_size(tree_size)
            return self._tree.root(tree_size).hex()

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> list[str]:
        """The audit path of a leaf in the tree of size `tree_size`, as hex hashes."""
        with self._lock:
            self._require_size(tree_size)
            if not 0 <= leaf_index < tree_size:
                raise TreeNotFoundError(f"leaf {leaf_index} is not in the tree of size {tree_size}")
            return [h.hex() for h in self._tree.inclusion_proof(leaf_index, tree_size)]

    def inclusion_proofs(self, leaf_indices: Sequence[int], tree_size: int) -> list[list[str]]:
        """The audit paths of several leaves in the tree of size `tree_size` (hex)."""
        with self._lock:
            self._require_size(tree_size)
            for leaf_index in leaf_indices:
                if not 0 <= leaf_index < tree_size:
                    raise TreeNotFoundError(
                        f"leaf {leaf_index} is not in the tree of size {tree_size}"
                    )
            paths = self._tree.inclusion_proofs(leaf_indices, tree_size)
            return [[h.hex() for h in path] for path in paths]

    def consistency_proof(self, first: int, second: int) -> list[str]:
        """The proof that the tree of size `first` is a prefix of the tree of size `second`."""
        with self._lock:
            self._require_size(second)
            if not 0 <= first <= second:
                raise TreeNotFoundError(f"first ({first}) must be between 0 and second ({second})")
            return [h.hex() for h in self._tree.consistency_proof(first, second)]

    def _require_size(self, tree_size: int) -> None:
        if tree_size > len(self._leaves):
            self._refresh()
        if not 0 <= tree_size <= len(self._leaves):
            raise TreeNotFoundError(
                f"tree size {tree_size} is outside the log, which has {len(self._leaves)} leaves"
            )

    # ------------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint ever issued, oldest first."""
        return self.rows.checkpoints()

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint of the largest tree, the latest of those."""
        return self.rows.latest_checkpoint()

    def issue_checkpoint(
        self, record: Callable[[Checkpoint], IdempotencyRecord] | None = None
    ) -> Checkpoint:
        """Log every new event and sign the tree, unless it no longer extends the last one.

        `record` gives the Idempotency-Key record of the request that asked for it; it is
        kept in the checkpoint's own transaction, so that a key already used by another
        process refuses the checkpoint too (IntegrityError) and nothing new is kept.
        """
        key = self.server_key
        with self._lock:
            size = self.catch_up()
            previous = self.latest_checkpoint()
            if previous is not None:
                self._require_extends(previous, size)
            root = self._tree.root(size).hex()
            issued_at = rfc3339(self._clock())
            checkpoint = Checkpoint(
                size,
                root,
                issued_at,
                key.sign(checkpoint_payload(size, root, issued_at)),
                key.key_id,
            )
            self.rows.insert_checkpoint(checkpoint, None if record is None else record(checkpoint))
            return checkpoint

    def _require_extends(self, previous: Checkpoint, size: int) -> None:
        if previous.tree_size > size:
            raise LogTamperedError(
                f"the log has {size} leaves, fewer than the {previous.tree_size} of the "
                f"checkpoint issued at {previous.issued_at}; run `tris verify --store`"
            )
        if self._tree.root(previous.tree_size).hex() != previous.root_hash:
            raise LogTamperedError(
                f"the first {previous.tree_size} leaves no longer have the root signed at "
                f"{previous.issued_at}; run `tris verify --store`"
            )

    def covering_checkpoint(self, tree_size: int) -> Checkpoint | None:
        """The latest checkpoint if it covers `tree_size` leaves, else None.

        Readers never make the server sign: checkpoints are signed on schedule
        (`TRIS_CHECKPOINT_INTERVAL_SECONDS`) or when an admin asks (`POST /v1/checkpoints`).
        """
        latest = self.latest_checkpoint()
        if latest is not None and latest.tree_size >= tree_size:
            return latest
        return None

    def checkpoint_signed(self, checkpoint: Checkpoint) -> bool:
        """True when the checkpoint carries a valid signature by this server's key."""
        key = self.server_key
        return checkpoint.key_id == key.key_id and server_signature_valid(
            key.public_key, checkpoint.signature, checkpoint.payload()
        )


def _unhex(text: str, count: int) -> bytes | None:
    """`count` leaf hashes from their hex, back to back (None when that is not what it is)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == count * HASH_BYTES else None
