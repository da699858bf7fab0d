"""The gateway of the Merkle log's tables: its leaves and every checkpoint ever issued."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from tris.domain.proofs.signed import Checkpoint
from tris.storage.database import Database
from tris.storage.idempotency import IdempotencyRecord, IdempotencyRecords

TABLES = [
    # Leaf i is the event at global position `position`.
    """CREATE TABLE IF NOT EXISTS tris_merkle_leaves (
        leaf_index BIGINT PRIMARY KEY,
        position BIGINT NOT NULL UNIQUE,
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        leaf_hash TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS tris_merkle_leaves_event
        ON tris_merkle_leaves (originator_id, originator_version)""",
    """CREATE TABLE IF NOT EXISTS tris_checkpoints (
        tree_size BIGINT NOT NULL,
        root_hash TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id TEXT NOT NULL,
        PRIMARY KEY (tree_size, issued_at))""",
]

_LEAF_COLUMNS = "leaf_index, position, originator_id, originator_version, leaf_hash"
_CHECKPOINT_COLUMNS = "tree_size, root_hash, issued_at, signature, key_id"

# A leaf row: (leaf index, global position, dashed aggregate id, version, hex leaf hash).
LeafRow = tuple[int, int, str, int, str]


class MerkleLogRows:
    """The only SQL on `tris_merkle_leaves` and `tris_checkpoints`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.idempotency = IdempotencyRecords(database)

    def insert_leaves(self, rows: Sequence[LeafRow]) -> bool:
        """Append leaves; False when another process appended one of these indices first."""
        values = ",".join(["(%s, %s, %s, %s, %s)"] * len(rows))
        try:
            with self.database.transaction() as cur:
                cur.execute(
                    f"INSERT INTO tris_merkle_leaves ({_LEAF_COLUMNS}) VALUES {values}",  # noqa: S608
                    [part for row in rows for part in row],
                )
        except IntegrityError:
            return False
        return True

    def last_leaf(self) -> LeafRow | None:
        """The leaf with the highest index."""
        return self._one(
            f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
            "ORDER BY leaf_index DESC LIMIT 1",
            (),
        )

    def leaf_at(self, position: int) -> LeafRow | None:
        """The leaf of the event at a global position."""
        return self._one(
            f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves WHERE position=%s",  # noqa: S608
            (position,),
        )

    def leaves_of(
        self, aggregate_id: str, versions: tuple[int, int] | None = None
    ) -> list[LeafRow]:
        """The leaves of one aggregate's events (in the inclusive range of `versions`)."""
        within = "" if versions is None else " AND originator_version BETWEEN %s AND %s"
        return self._all(
            f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
            f"WHERE originator_id=%s{within}",
            (aggregate_id, *(versions or ())),
        )

    def leaves_after(self, after: int, limit: int) -> list[LeafRow]:
        """Up to `limit` leaves with an index above `after`, in index order."""
        return self._all(
            f"SELECT {_LEAF_COLUMNS} FROM tris_merkle_leaves "  # noqa: S608
            "WHERE leaf_index > %s ORDER BY leaf_index LIMIT %s",
            (after, limit),
        )

    def leaf_hashes_from(self, start: int, limit: int) -> list[tuple[int, str]]:
        """(index, hex leaf hash) of up to `limit` leaves from index `start` on."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT leaf_index, leaf_hash FROM tris_merkle_leaves "
                "WHERE leaf_index >= %s ORDER BY leaf_index LIMIT %s",
                (start, limit),
            )
            return [(int(r[0]), str(r[1])) for r in cur.fetchall()]

    def last_position(self) -> int:
        """The global position of the last logged event (0 when none is)."""
        with self.database.read() as cur:
            cur.execute("SELECT MAX(position) FROM tris_merkle_leaves")
            row = cur.fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def aggregate_ids(self) -> set[str]:
        """Every aggregate id with a logged event."""
        with self.database.read() as cur:
            cur.execute("SELECT DISTINCT originator_id FROM tris_merkle_leaves")
            return {str(row[0]) for row in cur.fetchall()}

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

    def insert_checkpoint(
        self, checkpoint: Checkpoint, record: IdempotencyRecord | None = None
    ) -> None:
        """Keep a checkpoint, with the request's idempotency record in one transaction."""
        with self.database.transaction() as cur:
            cur.execute(
                f"INSERT INTO tris_checkpoints ({_CHECKPOINT_COLUMNS}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.issued_at,
                    checkpoint.signature,
                    checkpoint.key_id,
                ),
            )
            if record is not None:
                self.idempotency.save(record, cur)

    def _one(self, statement: str, params: Sequence[Any]) -> LeafRow | None:
        with self.database.read() as cur:
            cur.execute(statement, params)
            row = cur.fetchone()
        return None if row is None else _leaf_row(row)

    def _all(self, statement: str, params: Sequence[Any]) -> list[LeafRow]:
        with self.database.read() as cur:
            cur.execute(statement, params)
            return [_leaf_row(r) for r in cur.fetchall()]


def _leaf_row(row: Sequence[Any]) -> LeafRow:
    return int(row[0]), int(row[1]), str(row[2]), int(row[3]), str(row[4])


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    return Checkpoint(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))
