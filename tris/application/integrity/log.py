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
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Notification

from tris.application.integrity.errors import (
    LogEntryNotFoundError,
    LogTamperedError,
    TreeNotFoundError,
)
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
from tris.storage.database import Database, IdempotencyRecord

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
_LEAF_COLUMNS = "leaf_index, position, originator_id, originator_version, leaf_hash"
_CHECKPOINT_COLUMNS = "tree_size, root_hash, issued_at, signature, key_id"


class IntegrityLog:
    """Appends events to the Merkle log, serves roots and proofs, and issues checkpoints."""

    def __init__(
        self,
        database: Database,
        server_key: Callable[[], ServerKey],
        *,
        clock: Clock = utc_now,
        batch_size: int = 500,
    ) -> None:
        self.database = database
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
        recorder: Any = self.database.recorder
        while True:
            last = self._last_leaf()
            next_index = 0 if last is None else last.leaf_index + 1
            after = None if last is None else last.position
            raced = False
            while True:
                notes: Sequence[Notification] = recorder.select_notifications(
                    start=after, limit=self.batch_size, inclusive_of_start=False
                )
                if not notes:
                    break
                rows = self._leaf_rows(notes, next_index)
                if rows and not self._insert_leaves(rows):
                    raced = True
                    break
                next_index += len(rows)
                after = notes[-1].id
                if len(notes) < self.batch_size:
                    break
            if not raced:
                return self.size()

    def _leaf_rows(self, notes: Sequence[Notification], first_index: int) -> list[tuple[Any, ...]]:
        keys = [(str(UUID(str(n.originator_id))), n.originator_version) for n in notes]
        recorded = self._hashes_of(keys)
        rows: list[tuple[Any, ...]] = []
        for note, key in zip(notes, keys, strict=True):
            leaf = leaf_for(recorded.get(key, ""))
            if leaf is None:
                # Not written by TRIS's recorders: left out, and reported by the store audit.
                log.warning("event %s v%s at position %s has no recorded hash", *key, note.id)
                continue
            rows.append((first_index + len(rows), note.id, key[0], key[1], leaf))
        return rows

    def _hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        if not keys:
            return {}
        values = ",".join(["(%s, %s)"] * len(keys))
        params = [part for key in keys for part in key]
        with self.database.read() as cur:
            cur.execute(
                "SELECT originator_id, originator_version, hash FROM tris_event_hashes "  # noqa: S608
                f"WHERE (originator_id, originator_version) IN (VALUES {values})",
                params,
            )
            return {(str(r[0]), int(r[1])): str(r[2]) for r in cur.fetchall()}

    def _insert_leaves(self, rows: list[tuple[Any, ...]]) -> bool:
        values = ",".join(["(%s, %s, %s, %s, %s)"] * len(rows))
        try:
            with self.database.transaction() as cur:
                cur.execute(
                    f"INSERT INTO tris_merkle_leaves ({_LEAF_COLUMNS}) VALUES {values}",  # noqa: S608
                    [part for row in rows for part in row],
                )
        except IntegrityError:
            return False  # another process appended these leaves first; start again
        return True

    # ------------------------------------------------------------------ reading leaves

    def _last_leaf(self) -> Leaf | None:
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
                "ORDER BY leaf_index DESC LIMIT 1"
            )
            row = cur.fetchone()
        return None if row is None else _leaf(row)

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
            with self.database.read() as cur:
                cur.execute(
                    "SELECT leaf_index, leaf_hash FROM tris_merkle_leaves "
                    "WHERE leaf_index >= %s ORDER BY leaf_index LIMIT %s",
                    (start, _REFRESH_BATCH),
                )
                rows = cur.fetchall()
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
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves WHERE position=%s",  # noqa: S608
                (position,),
            )
            row = cur.fetchone()
        if row is None:
            raise LogEntryNotFoundError(f"no event at position {position} is in the log")
        return _leaf(row)

    def leaves_of(self, aggregate_id: str) -> dict[int, Leaf]:
        """The leaves of one aggregate's events, by version."""
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
                "WHERE originator_id=%s",
                (aggregate_id,),
            )
            return {leaf.version: leaf for leaf in map(_leaf, cur.fetchall())}

    def iter_leaves(self, batch: int = 5000) -> Iterator[Leaf]:
        """Every stored leaf row in leaf-index order, read afresh from the database."""
        after = -1
        while True:
            with self.database.read() as cur:
                cur.execute(
                    f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
                    "WHERE leaf_index > %s ORDER BY leaf_index LIMIT %s",
                    (after, batch),
                )
                rows = [_leaf(r) for r in cur.fetchall()]
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].leaf_index

    def recorded_hashes(self, aggregate_id: str) -> dict[int, tuple[str, str]]:
        """(hash, prev_hash) recorded for each version of one aggregate."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT originator_version, hash, prev_hash FROM tris_event_hashes "
                "WHERE originator_id=%s",
                (aggregate_id,),
            )
            return {int(r[0]): (str(r[1]), str(r[2])) for r in cur.fetchall()}

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
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM tris_checkpoints "  # noqa: S608
                "ORDER BY tree_size, issued_at"
            )
            return [_checkpoint(r) for r in cur.fetchall()]

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint of the largest tree, the latest of those."""
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM tris_checkpoints "  # noqa: S608
                "ORDER BY tree_size DESC, issued_at DESC LIMIT 1"
            )
            row = cur.fetchone()
        return None if row is None else _checkpoint(row)

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
            with self.database.transaction() as cur:
                cur.execute(
                    f"INSERT INTO tris_checkpoints ({_CHECKPOINT_COLUMNS}) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (size, root, issued_at, checkpoint.signature, checkpoint.key_id),
                )
                if record is not None:
                    self.database.save_idempotency(record(checkpoint), cur)
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

    def ensure_checkpoint(self, tree_size: int) -> Checkpoint:
        """The latest checkpoint if it covers `tree_size` leaves, else a new one."""
        latest = self.latest_checkpoint()
        if latest is not None and latest.tree_size >= tree_size:
            return latest
        return self.issue_checkpoint()

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


def _leaf(row: Sequence[Any]) -> Leaf:
    return Leaf(int(row[0]), int(row[1]), str(row[2]), int(row[3]), str(row[4]))


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    return Checkpoint(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))
