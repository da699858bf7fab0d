"""The gateway of the projection runner's tables: tracked positions, workers, rebuild markers.

Every function takes the caller's cursor, so a tracked position changes in the same
transaction as the read-model rows it stands for.
"""

from __future__ import annotations

import time

from tris.storage.cursors import Cursor

TRACKING_TABLE = """CREATE TABLE IF NOT EXISTS tris_tracking (
    projection TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    schema_version INTEGER NOT NULL)"""

WORKERS_TABLE = """CREATE TABLE IF NOT EXISTS tris_workers (
    worker_id TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL)"""

REBUILD_TABLE = """CREATE TABLE IF NOT EXISTS tris_rebuild (
    marker TEXT PRIMARY KEY,
    started_at TEXT NOT NULL)"""

FAILURES_TABLE = """CREATE TABLE IF NOT EXISTS tris_projection_failures (
    projection TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL)"""

TABLES = [TRACKING_TABLE, REBUILD_TABLE, WORKERS_TABLE, FAILURES_TABLE]

# A read-model batch on PostgreSQL begins with one call: it does without waiting for its
# WAL flush (read models are derived; a batch lost in a crash is lost whole, tracking row
# included, and applied again), takes the batch lock, and reads the positions under it —
# a volatile function's statement sees what the previous holder committed.
BEGIN_BATCH = """CREATE OR REPLACE FUNCTION tris_tracking_begin(lock_key bigint)
RETURNS TABLE (tracked text, tracked_at bigint) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY SELECT t.projection, t.position FROM tris_tracking AS t;
END $$"""

# A batch of events this process wrote itself, at positions `first`…`last` (ADR 29): the
# same beginning, then, if every projection of `names` has passed `first - 1`, each is
# moved to `last` at once (it needs nothing before `first`, and the caller holds every
# event up to `last`) and the positions before the move are returned as claimed.
# Otherwise nothing moves and the positions come back unclaimed, for an ordinary batch.
CLAIM_BATCH = """CREATE OR REPLACE FUNCTION tris_tracking_claim(
    lock_key bigint, names text[], first_position bigint, last_position bigint)
RETURNS TABLE (tracked text, tracked_at bigint, claimed boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(lock_key);
    IF (SELECT count(*) FROM tris_tracking AS t
        WHERE t.projection = ANY(names) AND t.position >= first_position - 1)
        = cardinality(names) THEN
        RETURN QUERY WITH moved AS (
            UPDATE tris_tracking AS t SET position = GREATEST(o.position, last_position)
            FROM tris_tracking AS o
            WHERE o.projection = t.projection AND t.projection = ANY(names)
            RETURNING t.projection AS name, o.position AS before)
        SELECT moved.name, moved.before, true FROM moved;
    ELSE
        RETURN QUERY SELECT t.projection, t.position, false FROM tris_tracking AS t;
    END IF;
END $$"""

# The SQLSTATE with which `tris_tracking_claim_exactly` refuses (a class of our own).
CLAIM_REFUSED = "TR001"


def _claim_function(name: str, take_lock: str) -> str:
    """A claim of the events at `first_position`…`last_position` for projections all
    standing at `first_position - 1`, under the batch lock as `take_lock` takes it, or an
    error (`CLAIM_REFUSED`)."""
    return f"""CREATE OR REPLACE FUNCTION {name}(
    lock_key bigint, names text[], first_position bigint, last_position bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    moved integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    {take_lock}
    UPDATE tris_tracking SET position = last_position
        WHERE projection = ANY(names) AND position = first_position - 1;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> cardinality(names) THEN
        RAISE EXCEPTION USING ERRCODE = '{CLAIM_REFUSED}',
            MESSAGE = 'read models are not at position ' || (first_position - 1);
    END IF;
END $$"""  # noqa: S608 - built from constants of this module


# The optimistic claim (ADR 30): the batch lock, then every projection moved from exactly
# `first - 1` to `last` — or an error, which aborts the transaction with everything sent
# after it, so that the read-model statements and COMMIT can go out in the same round
# trip without waiting for the claim's answer.
CLAIM_EXACTLY = _claim_function(
    "tris_tracking_claim_exactly", "PERFORM pg_advisory_xact_lock(lock_key);"
)
# A save's follow-up (ADR 35): the same claim in the transaction of the sequencer's call,
# which holds the sequencer's lock. So that other writers' numbering never waits behind a
# batch of read models, the batch lock is only tried: when another batch holds it, the
# claim is refused and the events are applied after the commit, as before.
CLAIM_AHEAD = _claim_function(
    "tris_tracking_claim_ahead",
    "IF NOT pg_try_advisory_xact_lock(lock_key) THEN\n"
    f"        RAISE EXCEPTION USING ERRCODE = '{CLAIM_REFUSED}',\n"
    "            MESSAGE = 'another batch of read models is being written';\n"
    "    END IF;",
)

BACKEND_STATEMENTS: dict[str, list[str]] = {
    "postgres": [BEGIN_BATCH, CLAIM_BATCH, CLAIM_EXACTLY, CLAIM_AHEAD],
    "sqlite": [],
}

# A worker unseen for this long is forgotten.
FORGET_WORKERS_SECONDS = 3600


def schema_version(cur: Cursor, projection: str) -> int | None:
    """The schema version a projection's rows were built with (None: not tracked yet)."""
    cur.execute("SELECT schema_version FROM tris_tracking WHERE projection=%s", (projection,))
    row = cur.fetchone()
    return None if row is None else int(row[0])


def track(cur: Cursor, projection: str, version: int) -> None:
    """Start tracking a projection at the start of the log."""
    cur.execute(
        "INSERT INTO tris_tracking (projection, position, schema_version) "
        "VALUES (%s, 0, %s) ON CONFLICT (projection) DO NOTHING",
        (projection, version),
    )


def restart(cur: Cursor, projection: str, version: int) -> None:
    """Rewind a projection whose rows changed shape, under its new schema version."""
    cur.execute(
        "UPDATE tris_tracking SET position=0, schema_version=%s WHERE projection=%s",
        (version, projection),
    )


def positions(cur: Cursor) -> dict[str, int]:
    """Each projection's tracked position."""
    cur.execute("SELECT projection, position FROM tris_tracking")
    return {str(r[0]): int(r[1]) for r in cur.fetchall()}


def begin_batch(cur: Cursor, lock_key: int) -> dict[str, int]:
    """PostgreSQL: start a read-model batch under the lock `lock_key` (`BEGIN_BATCH`); each
    projection's tracked position as the batch sees it."""
    cur.execute("SELECT tracked, tracked_at FROM tris_tracking_begin(%s)", (lock_key,))
    return {str(r[0]): int(r[1]) for r in cur.fetchall()}


def claim_batch(
    cur: Cursor, lock_key: int, names: list[str], first: int, last: int
) -> tuple[dict[str, int], bool]:
    """PostgreSQL: begin a batch of the events at `first`…`last`, which the caller holds
    (`CLAIM_BATCH`): each projection's position before, and whether they were all moved
    to `last` (claimed: apply each the events after its position, and commit)."""
    cur.execute(
        "SELECT tracked, tracked_at, claimed FROM tris_tracking_claim(%s, %s, %s, %s)",
        (lock_key, names, first, last),
    )
    rows = cur.fetchall()
    return {str(r[0]): int(r[1]) for r in rows}, bool(rows) and all(r[2] for r in rows)


def claim_exactly(cur: Cursor, lock_key: int, names: list[str], first: int, last: int) -> None:
    """PostgreSQL, in a pipelined transaction: claim the events at `first`…`last` for
    projections all standing at `first - 1` (`CLAIM_EXACTLY`), without waiting for the
    answer; when they do not, the transaction fails with `CLAIM_REFUSED`."""
    cur.execute(
        "SELECT tris_tracking_claim_exactly(%s, %s, %s, %s)", (lock_key, names, first, last)
    )


def claim_ahead(cur: Cursor, lock_key: int, names: list[str], first: int, last: int) -> None:
    """PostgreSQL, in a save's follow-up (ADR 35): `claim_exactly`, refused also when
    another batch holds the batch lock (`CLAIM_AHEAD`)."""
    cur.execute("SELECT tris_tracking_claim_ahead(%s, %s, %s, %s)", (lock_key, names, first, last))


def refused_claim(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is `claim_exactly`'s refusal."""
    while error is not None:
        if getattr(error, "sqlstate", None) == CLAIM_REFUSED:
            return True
        error = error.__cause__  # type: ignore[assignment]
    return False


def advance_all(cur: Cursor, backend: str, moves: list[tuple[str, int, int]]) -> bool:
    """Compare-and-set each (projection, old, new) at once; False when another worker
    moved any of them (the caller rolls the batch back)."""
    if backend != "postgres":
        return all(advance(cur, name, old, new) for name, old, new in moves)
    # The count comes back as a row (not `rowcount`), which a pipelined transaction has
    # only once its results are read.
    cur.execute(
        "WITH moved AS (UPDATE tris_tracking AS t SET position = m.new "
        "FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS m(name, old, new) "
        "WHERE t.projection = m.name AND t.position = m.old RETURNING 1) "
        "SELECT count(*) FROM moved",
        ([m[0] for m in moves], [m[1] for m in moves], [m[2] for m in moves]),
    )
    row = cur.fetchone()
    return row is not None and int(row[0]) == len(moves)


def advance(cur: Cursor, projection: str, old: int, new: int) -> bool:
    """Compare-and-set a position from `old` to `new`; False when another worker moved it."""
    cur.execute(
        "UPDATE tris_tracking SET position=%s WHERE projection=%s AND position=%s",
        (new, projection, old),
    )
    return getattr(cur, "rowcount", 1) == 1


def move(cur: Cursor, projection: str, position: int) -> None:
    """Set a position unconditionally (a rewind, or a rebuild's stage written back)."""
    cur.execute("UPDATE tris_tracking SET position=%s WHERE projection=%s", (position, projection))


def record_failure(
    cur: Cursor, projection: str, position: int, event_type: str, error: str
) -> None:
    """Remember that a projection failed on the event at `position` (the latest failure)."""
    cur.execute("DELETE FROM tris_projection_failures WHERE projection=%s", (projection,))
    cur.execute(
        "INSERT INTO tris_projection_failures (projection, position, event_type, error, "
        "failed_at) VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP)",
        (projection, position, event_type, error[:2000]),
    )


def forget_failures(cur: Cursor) -> None:
    """Forget every failure (the read models start again from the log)."""
    cur.execute("DELETE FROM tris_projection_failures")


def failures(cur: Cursor) -> dict[str, tuple[int, str, str, str]]:
    """Each failing projection: (position, event type, error, failed at)."""
    cur.execute(
        "SELECT projection, position, event_type, error, failed_at FROM tris_projection_failures"
    )
    return {str(r[0]): (int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in cur.fetchall()}


def heartbeat(cur: Cursor, worker_id: str) -> None:
    """A worker says it is alive; long-silent workers are forgotten."""
    now = time.time()
    cur.execute(
        "INSERT INTO tris_workers (worker_id, seen_at) VALUES (%s, %s) "
        "ON CONFLICT (worker_id) DO UPDATE SET seen_at = %s",
        (worker_id, now, now),
    )
    cur.execute("DELETE FROM tris_workers WHERE seen_at < %s", (now - FORGET_WORKERS_SECONDS,))


def workers_seen(cur: Cursor, within_seconds: float) -> int:
    """How many workers sent a heartbeat in the last `within_seconds`."""
    cur.execute(
        "SELECT COUNT(*) FROM tris_workers WHERE seen_at >= %s", (time.time() - within_seconds,)
    )
    row = cur.fetchone()
    return int(row[0]) if row else 0


def rebuild_markers(cur: Cursor) -> set[str]:
    """The markers of a rebuild in progress."""
    cur.execute("SELECT marker FROM tris_rebuild")
    return {str(row[0]) for row in cur.fetchall()}


def mark_rebuild(cur: Cursor, marker: str) -> None:
    """Set a rebuild marker (replacing an earlier one of the same name)."""
    cur.execute("DELETE FROM tris_rebuild WHERE marker=%s", (marker,))
    cur.execute(
        "INSERT INTO tris_rebuild (marker, started_at) VALUES (%s, CURRENT_TIMESTAMP)", (marker,)
    )


def finish_rebuild(cur: Cursor) -> None:
    """Clear every rebuild marker."""
    cur.execute("DELETE FROM tris_rebuild")
