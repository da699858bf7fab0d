"""The tables of the verifiable history, created with the event store's own tables."""

from __future__ import annotations

INTEGRITY_TABLES = [
    # One row per event, written by the recorders in the events' own transaction.
    """CREATE TABLE IF NOT EXISTS tris_event_hashes (
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        PRIMARY KEY (originator_id, originator_version))""",
    # The Merkle log: leaf i is the event at global position `position`.
    """CREATE TABLE IF NOT EXISTS tris_merkle_leaves (
        leaf_index BIGINT PRIMARY KEY,
        position BIGINT NOT NULL UNIQUE,
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        leaf_hash TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS tris_merkle_leaves_event
        ON tris_merkle_leaves (originator_id, originator_version)""",
    # Every checkpoint ever issued is kept.
    """CREATE TABLE IF NOT EXISTS tris_checkpoints (
        tree_size BIGINT NOT NULL,
        root_hash TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id TEXT NOT NULL,
        PRIMARY KEY (tree_size, issued_at))""",
]

SELECT_PREVIOUS_HASH = (
    "SELECT hash FROM tris_event_hashes WHERE originator_id=%s AND originator_version=%s"
)
INSERT_EVENT_HASH = (
    "INSERT INTO tris_event_hashes (originator_id, originator_version, hash, prev_hash) "
    "VALUES (%s, %s, %s, %s)"
)
