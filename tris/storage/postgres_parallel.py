"""A PostgreSQL write path whose positions become visible in order and are never skipped.

The library's recorder takes `LOCK TABLE … IN EXCLUSIVE MODE` on every save so that
positions become visible in order; that serialises every writer with every reader's
table access. Here:

- TRIS's writers give positions in the save's own statement (ADR 41): a batch's
  transaction takes the numbering lock (a transaction-scoped advisory lock) before its
  statement reads the highest position, and the statement numbers the batch's events
  after it, in the batch's order. The lock is held until the transaction ends, so
  positions become visible in their order, and one durable commit holds the events with
  their positions. One process writes every batch of a server (ADR 38), so the lock
  costs turns only between servers, or a server and the CLI.
- Rows written without the lock (by a process of a version before ADR 41, or the
  library's own insert) have no position; every row records the id of the transaction
  that wrote it (`tx_id`, `xid8`), and the **sequencer** (under the same lock) numbers
  the rows without a position whose transaction id is below
  `pg_snapshot_xmin(pg_current_snapshot())` — every such transaction has finished, so no
  row can later appear before them — in `(tx_id, notification_id)` order, continuing
  after the highest position. Readers read by position only, so such a late transaction
  is numbered after whatever was numbered before it committed: nobody skips it.

Readers run the sequencer opportunistically (never blocking) before they read, unless
this process ran it a moment ago; a save whose positions were not given (a batch settled
without them) looks them up through it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from tris.storage import idempotency, key_owners
from tris.storage.arrays import BigintArray, ByteaArray, TextArray, UuidArray
from tris.storage.cursors import PipelinedTransaction, forget_prepared
from tris.storage.follow_up import POSITIONS_REFUSED, FollowUp, FollowUpSource
from tris.storage.group_commit import GroupCommit, Write
from tris.storage.log_part import LogPart, Tally
from tris.storage.postgres import TrisPostgresRecorder
from tris.storage.schema import STALE_READ
from tris.storage.tracking import CLAIM_REFUSED
from tris.storage.writer import SharedWriter

log = logging.getLogger(__name__)

SEQUENCER_LOCK = 0x7472697300000001  # "tris" + 1: the advisory lock of the sequencer
SEQUENCE_BATCH = 10_000
POSITION_WAIT_SECONDS = 5.0
# Readers skip their opportunistic sequencer call when this process ran it more recently
# than this: writers number their own rows, so readers only pick up the rows of writers
# that died between commit and numbering (or wrote behind TRIS's back), a little later.
SEQUENCE_FRESH_SECONDS = 0.02


class ParallelPostgresRecorder(TrisPostgresRecorder):
    """TRIS's PostgreSQL recorder without the table lock: positions given under the
    numbering lock, in the save's statement (ADR 41)."""

    position_column = "position"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = Identifier(self.datastore.schema, self.events_table_name)
        fmt = {"t": table}
        self.sql_create_statements.extend(
            [
                SQL(
                    "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS tx_id xid8 NOT NULL "
                    "DEFAULT pg_current_xact_id()"
                ).format(**fmt),
                SQL("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS position BIGINT").format(**fmt),
                SQL("CREATE UNIQUE INDEX IF NOT EXISTS {i} ON {t} (position)").format(
                    i=Identifier(f"{self.events_table_name}_position_idx"), **fmt
                ),
                SQL(
                    "CREATE INDEX IF NOT EXISTS {i} ON {t} (tx_id, notification_id) "
                    "WHERE position IS NULL"
                ).format(i=Identifier(f"{self.events_table_name}_unsequenced_idx"), **fmt),
            ]
        )
        # The sequencer is one function call, one round trip in autocommit: the lock, then
        # the numbering. Its statements see fresh snapshots (a volatile function at READ
        # COMMITTED), so the numbering starts after whatever the previous holder committed.
        sequencer = Identifier(self.datastore.schema, f"{self.events_table_name}_sequence")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {f}(wait boolean, batch integer) RETURNS bigint "
                "LANGUAGE plpgsql VOLATILE AS $$ "
                "DECLARE numbered bigint; "
                "BEGIN "
                "IF wait THEN PERFORM pg_advisory_xact_lock({lock}); "
                "ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN RETURN 0; "
                "END IF; "
                "PERFORM set_config('synchronous_commit', 'off', true); "
                "WITH base AS (SELECT COALESCE(MAX(position), 0) AS m FROM {t}), "
                "todo AS (SELECT notification_id, "
                "row_number() OVER (ORDER BY tx_id, notification_id) AS n FROM {t} "
                "WHERE position IS NULL AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY tx_id, notification_id LIMIT batch) "
                "UPDATE {t} AS e SET position = base.m + todo.n FROM todo, base "
                "WHERE e.notification_id = todo.notification_id; "
                "GET DIAGNOSTICS numbered = ROW_COUNT; "
                "RETURN numbered; "
                "END $$"
            ).format(f=sequencer, lock=Literal(SEQUENCER_LOCK), **fmt)
        )
        # A writer's call: the numbering (waiting for the lock), then the positions of its
        # own events, looked up by key (aggregate and version: not every event of their
        # aggregates, which grows with each one's history) and, in a row without an
        # aggregate, the highest position numbered so far, in the same round trip. (Its
        # first form, without versions, stays for processes of the version before.)
        locator = Identifier(self.datastore.schema, f"{self.events_table_name}_sequence_locate")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {l}(batch integer, ids uuid[], versions bigint[]) "
                "RETURNS TABLE (o_id uuid, o_version bigint, o_position bigint) "
                "LANGUAGE plpgsql VOLATILE AS $$ "
                "BEGIN "
                "PERFORM {f}(true, batch); "
                # One index lookup per event, each a statement of its own: a join may be
                # planned as a scan of the whole log (a plan kept from when the log was
                # small), and one query over the arrays was planned afresh on every call
                # (~0.08 ms of the database's time a call, more than the numbering).
                "FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP "
                "o_id := ids[i]; o_version := versions[i]; "
                "SELECT e.position INTO o_position FROM {t} AS e "
                "WHERE e.originator_id = o_id AND e.originator_version = o_version; "
                "IF o_position IS NOT NULL THEN RETURN NEXT; END IF; "
                "END LOOP; "
                "o_id := NULL; o_version := NULL; "
                "SELECT MAX(e.position) INTO o_position FROM {t} AS e; "
                "RETURN NEXT; "
                "END $$"
            ).format(l=locator, f=sequencer, **fmt)
        )
        # A save's follow-up begins with this check (ADR 35): the events are exactly at the
        # positions predicted for them, else the follow-up's transaction is refused.
        expect = Identifier(self.datastore.schema, f"{self.events_table_name}_expect")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {x}(first_position bigint, ids uuid[], "
                "versions bigint[]) RETURNS void LANGUAGE plpgsql STABLE AS $$ "
                "DECLARE found bigint; "
                "BEGIN "
                "FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP "
                "SELECT e.position INTO found FROM {t} AS e "
                "WHERE e.originator_id = ids[i] AND e.originator_version = versions[i]; "
                "IF found IS DISTINCT FROM first_position + i - 1 THEN "
                "RAISE EXCEPTION USING ERRCODE = {code}, "
                "MESSAGE = 'the events are not at the positions predicted'; "
                "END IF; "
                "END LOOP; "
                "END $$"
            ).format(x=expect, code=Literal(POSITIONS_REFUSED), **fmt)
        )
        self._expect_sql = (
            SQL("SELECT {x}(%s, %s::uuid[], %s::bigint[])").format(x=expect).as_bytes()
        )
        # The statements of every command are rendered once: psycopg renders a composed
        # statement afresh on each execute (the save's: ~1 % of a command's CPU in py-spy).
        self._sequence_sql = SQL("SELECT {f}(%s, %s) AS numbered").format(f=sequencer).as_bytes()
        locate = SQL("SELECT o_id, o_version, o_position FROM {l}(%s, %s::uuid[], %s::bigint[])")
        self._locate_sql = locate.format(l=locator).as_bytes()
        self._select_sql = SQL(
            "SELECT position, originator_id, originator_version, topic, state FROM {t} "
            "WHERE position > %s"
        ).format(**fmt)
        self._max_sql = SQL("SELECT MAX(position) AS m FROM {t}").format(**fmt)
        self._tallies_sql = SQL(
            "SELECT topic, get_byte(uuid_send(originator_id), 15), COUNT(*), SUM(position) "
            "FROM {t} WHERE position <= %s GROUP BY 1, 2"
        ).format(**fmt)
        # A batch of saves in one statement (what Marten calls a quick append, for every
        # save of the batch at once). Each row of its arrays names its save (`s`, the
        # save's place in the batch): a save writes nothing when an aggregate its command
        # only read has a later version (`stale`) — stored, or written by a save before it
        # in the batch, as separate statements in one transaction would have seen — and the
        # statement answers which saves those were; the others are written. A taken
        # version or idempotency key fails the whole statement (the batch is then written
        # save by save, each in a savepoint).
        # The events go as flat arrays, not the library's array of a composite type:
        # psycopg dumps those element by element in Python, PostgreSQL parses their text
        # (measured, one writer: 16 % more saves a second, 10 % less CPU in both).
        append = SQL(
            # One index lookup per aggregate read: as a join, a plan made while the log was
            # small (a prepared statement keeps it) scanned the whole table on every save.
            "WITH base AS (SELECT COALESCE(MAX(position), 0) AS m FROM {t}), "
            "stale AS (SELECT r.s "
            "FROM unnest(%(read_saves)s::bigint[], %(read_ids)s::uuid[], "
            "%(read_versions)s::bigint[]) AS r(s, id, v) "
            "WHERE (SELECT max(e.originator_version) FROM {t} AS e "
            "WHERE e.originator_id = r.id) > r.v "
            "OR EXISTS (SELECT 1 FROM unnest(%(saves)s::bigint[], %(ids)s::uuid[], "
            "%(versions)s::bigint[]) AS b(s, id, v) "
            "WHERE b.s < r.s AND b.id = r.id AND b.v > r.v) "
            # An aggregate's new events follow a stored version (state kept in a process
            # can never be ahead of the store, say after a restore, without this noticing).
            "UNION SELECT f.s FROM unnest(%(first_saves)s::bigint[], %(first_ids)s::uuid[], "
            "%(first_versions)s::bigint[]) AS f(s, id, v) "
            "WHERE f.v > 1 AND NOT EXISTS (SELECT 1 FROM {t} AS p "
            "WHERE p.originator_id = f.id AND p.originator_version = f.v - 1)), "
            # The written events take the positions after the highest, in the batch's order.
            "ev AS (INSERT INTO {t} (originator_id, originator_version, topic, state, position) "
            "SELECT e.id, e.v, e.topic, e.state, base.m + row_number() OVER (ORDER BY e.n) "
            "FROM unnest(%(saves)s::bigint[], %(ids)s::uuid[], %(versions)s::bigint[], "
            "%(topics)s::text[], %(states)s::bytea[]) WITH ORDINALITY "
            "AS e(s, id, v, topic, state, n) CROSS JOIN base "
            "WHERE NOT EXISTS (SELECT 1 FROM stale WHERE stale.s = e.s)), "
            "ch AS (INSERT INTO tris_event_hashes "
            "(originator_id, originator_version, hash, prev_hash) "
            "SELECT h.id, h.v, h.hash, h.prev FROM unnest(%(hash_saves)s::bigint[], "
            "%(hash_ids)s::text[], %(hash_versions)s::integer[], %(hashes)s::text[], "
            "%(previous)s::text[]) AS h(s, id, v, hash, prev) "
            "WHERE NOT EXISTS (SELECT 1 FROM stale WHERE stale.s = h.s)), "
            "idem AS (INSERT INTO tris_idempotency "
            "(token_id, idem_key, fingerprint, status, body, created_at) "
            "SELECT i.token, i.key, i.fingerprint, i.status, i.body, CURRENT_TIMESTAMP "
            "FROM unnest(%(idem_saves)s::bigint[], %(tokens)s::text[], %(keys)s::text[], "
            "%(fingerprints)s::text[], %(statuses)s::integer[], %(bodies)s::text[]) "
            "AS i(s, token, key, fingerprint, status, body) "
            "WHERE NOT EXISTS (SELECT 1 FROM stale WHERE stale.s = i.s)) "
            "SELECT ARRAY(SELECT s FROM stale) AS stale, (SELECT m FROM base) AS base"
        ).format(**fmt)
        self._append_sql = append.as_bytes()
        # Taken before the batch's statement, in its transaction, and held until it ends:
        # the sequencer's lock, so that the highest position the statement reads is final
        # and the positions it gives become visible in their order (ADR 41).
        self._number_lock_sql = (
            SQL("SELECT pg_advisory_xact_lock({lock})")
            .format(lock=Literal(SEQUENCER_LOCK))
            .as_bytes()
        )
        self._sequenced_at = float("-inf")
        self.group = GroupCommit(self._commit_batch, self._settle_batch)
        # The highest position numbered when a save of this process was last given its
        # positions (set before its command learns them): a catch-up that holds the
        # events of its own commands knows whether others lie beyond them.
        self.given_out = 0
        # Where a batch's follow-up comes from (the read models, ADR 35), and whether the
        # next batch's positions are predicted: only while the last one's were right (a
        # process writing alone), so that wrong guesses do not cost work on every batch;
        # not before a first batch has shown where the log's head is.
        self.follow_up: FollowUpSource | None = None
        self._predicting = False
        # The writer this process's saves go through when it serves beside others (ADR 38).
        self.shared: SharedWriter | None = None

    # ------------------------------------------------------------------ writing

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert without a table lock, in the next group-committed batch of this process
        (ADR 25); return the events' positions once the batch is durable and sequenced.

        Raises the library's IntegrityError when this save's own checks failed (a version
        another writer took, a key another party claimed); the batch's other saves stand.
        With a shared writer (ADR 38) the batch is the writer process's.
        """
        if not stored_events:
            return None
        keys = frozenset(e.originator_id for e in stored_events)
        submit = self.group.submit if self.shared is None else self.shared.submit
        positions: Sequence[int] | None = submit((stored_events, kwargs), keys)
        return positions

    def _commit_batch(self, batch: list[Write]) -> None:
        """Write every save of the batch in one transaction.

        Saves are seldom refused, so the batch is first written in one round trip
        (`_write_batch`), with its positions and the read models' rows (also when
        saves wait behind it: measured, ADR 35). When the database refuses a save, that
        transaction is rolled back and a batch of several written again with a savepoint
        per save, so the refused one fails alone and the others commit; saves that claim
        keys are written that way at once.
        """
        self.chain_heads.discard()
        try:
            with self.datastore.get_connection() as conn:
                if not any(write.payload[1].get("key_claims") for write in batch):
                    try:
                        self._write_batch(conn, batch)
                    except psycopg.Error:
                        if conn.broken or conn.closed or len(batch) == 1:
                            raise  # the transaction is gone, or its one save refused
                        self.chain_heads.discard()
                    else:
                        self._committed(batch)
                        return
                with conn.transaction():
                    conn.execute(self._number_lock_sql)
                    for write in batch:
                        self._write_alone(conn, write, savepoint=len(batch) > 1)
                self._committed(batch)
        except psycopg.IntegrityError as exc:  # translated once, at this boundary
            raise IntegrityError(str(exc)) from exc
        finally:
            self.chain_heads.discard()

    def _write_batch(self, conn: psycopg.Connection[DictRow], batch: list[Write]) -> None:
        """Every save of a batch in one transaction, one statement and one round trip:
        BEGIN, the numbering lock, the batch's statement (which gives the events their
        positions, ADR 41) and COMMIT go out together (pipeline mode), followed by the
        batch's read-model statements when it has them (`_follow_up`, ADR 35). A save
        whose command read an aggregate that has moved since wrote nothing and is refused
        alone (the statement names it); the others commit. When the database refuses the
        statement (a version or key taken) the whole transaction ends: the caller then
        writes the batch save by save, under the numbering lock too.

        Previous hashes the chain needs are read before, outside the transaction: a
        committed hash never changes, and the statement refuses events that do not
        follow a stored version."""
        with conn.cursor() as reader:
            params, chains = self._append_params(reader, batch)
        first = self.given_out + 1
        built: list[FollowUp] = []
        applied = False
        try:
            with conn.cursor() as appended:
                applied = self._append(
                    conn, appended, params, lambda: self._follow_up(batch, first, built)
                )
                answer = appended.fetchone()
                refused = _refused(answer)
                written: list[Write] = []
                for place, (write, rows) in enumerate(zip(batch, chains, strict=True)):
                    if place in refused:
                        write.error = IntegrityError(STALE_READ)
                        write.extra["chain"] = []
                    else:
                        write.extra["chain"] = rows
                        written.append(write)
                positions = self._given(answer, written)
                # Predicted right: the next batch's are predicted (ADR 35).
                self._predicting = positions[:1] == [first]
        finally:
            for follow_up in built:
                follow_up.settle(applied)

    def _follow_up(
        self, batch: list[Write], first: int, built: list[FollowUp]
    ) -> list[tuple[Any, tuple[Any, ...]]]:
        """The statements to send after the batch's COMMIT (ADR 35), built while the
        database commits the batch: the check that the batch's events are at the
        positions predicted for them (from `first` on), then the read models' claim and
        statements. Nothing unless positions are being predicted (the last batch's were
        right, so that a process that writes beside others does not build statements
        in vain) and every save carries its domain events. The follow-up built is put
        in `built`, to be settled once the round trip is over."""
        if self.follow_up is None or not self._predicting:
            return []
        pairs: list[tuple[StoredEvent, Any]] = []
        for write in batch:
            stored, kwargs = write.payload
            domain = kwargs.get("saved_events")
            if domain is None or len(domain) != len(stored):
                return []
            pairs.extend(zip(stored, domain, strict=True))
        follow_up = self.follow_up(first, pairs)
        if follow_up is None:
            return []
        built.append(follow_up)
        if not follow_up.statements:
            return []
        check = (first, *_keys([e for e, _ in pairs]))
        return [(self._expect_sql, check), *follow_up.statements]

    def _append(
        self,
        conn: psycopg.Connection[DictRow],
        appended: psycopg.Cursor[DictRow],
        params: dict[str, Any],
        follow_up: Callable[[], list[tuple[Any, tuple[Any, ...]]]],
    ) -> bool:
        """BEGIN, the sequencer's lock, the batch's statement with `params` (on
        `appended`), COMMIT and the statements `follow_up` gives, in one round trip
        (`PipelinedTransaction`). Whether the follow-up's statements committed.

        The statements before the sync go out as they are executed: the follow-up is
        built while the database commits the batch, and sent behind the COMMIT as one
        transaction of its own (no BEGIN: the statements up to a sync). When it fails,
        that transaction is rolled back at the sync; the saves stand, and the read models
        catch up with them after the round trip. A failure before COMMIT is raised."""
        transaction = PipelinedTransaction(conn)
        following = rolled_back = False
        try:
            with transaction, conn.cursor() as behind:
                behind.execute(self._number_lock_sql, prepare=True)
                appended.execute(self._append_sql, params, prepare=True)
                transaction.commit()
                try:
                    statements = follow_up()
                except Exception:
                    log.exception("a batch's read-model statements could not be written down")
                    statements = []
                following = bool(statements)
                try:
                    for statement, values in statements:
                        behind.execute(statement, values)
                except BaseException:
                    # Refused before it reached the database (a value psycopg cannot
                    # send, say): what went out of the follow-up must not commit at the
                    # sync.
                    with contextlib.suppress(psycopg.Error):
                        behind.execute(b"ROLLBACK")
                        rolled_back = True
                    raise
        except Exception as exc:
            if rolled_back:
                forget_prepared(conn)
            if not transaction.committed:
                raise
            if not following:
                log.warning("a committed batch's round trip failed after COMMIT: %s", exc)
            elif getattr(exc, "sqlstate", None) not in (POSITIONS_REFUSED, CLAIM_REFUSED):
                log.warning("a batch's read-model statements failed (%s); applied after it", exc)
            return False
        return following

    def _given(self, answer: DictRow | None, written: list[Write]) -> list[int]:
        """The positions the batch's statement gave its written saves' events (after the
        highest it found, in the batch's order), handed to each save; all of them. None
        answered (no statement answers so), none handed: the saves stand, and
        `_settle_batch` looks their positions up."""
        if answer is None or answer["base"] is None:
            return []
        position = int(answer["base"])
        given: list[int] = []
        for write in written:
            count = len(write.payload[0])
            write.extra["positions"] = list(range(position + 1, position + count + 1))
            given.extend(write.extra["positions"])
            position += count
        self.given_out = max(self.given_out, position)
        return given

    def _write_alone(
        self, conn: psycopg.Connection[DictRow], write: Write, *, savepoint: bool
    ) -> None:
        """One save; in a savepoint of its own, refused alone."""
        if not savepoint:
            self._write_one(conn, write)
            return
        try:
            with conn.transaction():  # a savepoint
                self._write_one(conn, write)
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                raise  # the transaction is gone: every save of the batch fails
            # Refused on its own (a version taken, a value the database will not hold):
            # rolled back to its savepoint, the others stand.
            refused = isinstance(exc, psycopg.IntegrityError)
            write.error = IntegrityError(str(exc)) if refused else exc
            write.extra["chain"] = []

    def _committed(self, batch: list[Write]) -> None:
        """The batch committed: the chain heads its saves wrote are the new heads."""
        for write in batch:
            if write.error is None:
                self.chain_heads.committed(write.extra.get("chain", []))

    def _write_one(self, conn: psycopg.Connection[DictRow], write: Write) -> None:
        """One save in one statement (`_append_sql`): the events, their hash-chain rows
        and the idempotency record, unless an aggregate the command only read has moved."""
        with conn.cursor() as curs:
            claims: Sequence[key_owners.KeyClaim] = write.payload[1].get("key_claims", ())
            if claims:
                curs.executemany(SQL(key_owners.INSERT), claims)
            params, chains = self._append_params(curs, [write])
            curs.execute(self._append_sql, params, prepare=True)
            answer = curs.fetchone()
            if _refused(answer):
                raise psycopg.IntegrityError(STALE_READ)
            self._given(answer, [write])
        write.extra["chain"] = chains[0]

    def _append_params(
        self, curs: psycopg.Cursor[DictRow], batch: list[Write]
    ) -> tuple[dict[str, Any], list[list[tuple[str, int, str, str]]]]:
        """The batch statement's parameters for these saves, and the hash-chain rows each
        writes (after at most a read of a previous hash per save)."""
        params: dict[str, Any] = {name: kind() for name, kind in _BATCH_ARRAYS.items()}
        chains: list[list[tuple[str, int, str, str]]] = []
        for place, write in enumerate(batch):
            stored_events, kwargs = write.payload
            rows = self._chain(curs, stored_events)
            chains.append(rows)
            reads: Sequence[tuple[UUID, int]] = kwargs.get("read_versions", ())
            for originator_id, version in reads:
                params["read_saves"].append(place)
                params["read_ids"].append(originator_id)
                params["read_versions"].append(version)
            first: dict[UUID, int] = {}
            for e in stored_events:
                first.setdefault(e.originator_id, e.originator_version)
                params["saves"].append(place)
                params["ids"].append(e.originator_id)
                params["versions"].append(e.originator_version)
                params["topics"].append(e.topic)
                params["states"].append(e.state)
            for originator_id, version in first.items():
                params["first_saves"].append(place)
                params["first_ids"].append(originator_id)
                params["first_versions"].append(version)
            for row in rows:
                params["hash_saves"].append(place)
                params["hash_ids"].append(row[0])
                params["hash_versions"].append(row[1])
                params["hashes"].append(row[2])
                params["previous"].append(row[3])
            record: idempotency.IdempotencyRecord | None = kwargs.get("idempotency")
            if record is not None:
                token, key, fingerprint, status, body = idempotency.insert_params(record)
                params["idem_saves"].append(place)
                params["tokens"].append(token)
                params["keys"].append(key)
                params["fingerprints"].append(fingerprint)
                params["statuses"].append(status)
                params["bodies"].append(body)
        return params, chains

    def _settle_batch(self, batch: list[Write]) -> None:
        """Number the batch's rows and give each save its events' positions (one call,
        unless the save's own round trip brought them)."""
        located = [write.extra.get("positions") for write in batch]
        if all(positions is not None for positions in located):
            for write, positions in zip(batch, located, strict=True):
                write.result = positions
            return
        events = [e for write in batch for e in write.payload[0]]
        with self.datastore.get_connection() as conn:
            positions = self._sequence_and_locate(conn, events)
        for write, own in zip(batch, _per_save(batch, positions), strict=True):
            write.result = own

    def _sequence_and_locate(
        self, conn: psycopg.Connection[DictRow], stored_events: Sequence[StoredEvent]
    ) -> list[int] | None:
        keys = _keys(stored_events)
        deadline = time.monotonic() + POSITION_WAIT_SECONDS
        pause = 0.001
        while True:
            began = time.monotonic()
            with conn.cursor() as curs:  # autocommit: numbered and committed when it returns
                curs.execute(self._locate_sql, (SEQUENCE_BATCH, *keys), prepare=True)
                positions = self._located(curs, stored_events, began)
            if positions is not None:
                return positions
            if time.monotonic() >= deadline:
                # A long transaction elsewhere holds the sequencer back; the events are
                # safe and will be numbered when it ends.
                return None
            # Concurrent writers that began earlier are still committing: wait for them.
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _located(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], began: float
    ) -> list[int] | None:
        """The events' positions from the sequencer's call begun at `began` (None unless
        every one is numbered); notes the highest position numbered so far."""
        found = {(r["o_id"], r["o_version"]): r["o_position"] for r in curs}
        head = found.pop((None, None), None)
        if head is not None:
            self.given_out = max(self.given_out, int(head))
        self._sequenced_at = began
        positions = [found.get((e.originator_id, e.originator_version)) for e in stored_events]
        if all(p is not None for p in positions):
            return [int(p) for p in positions if p is not None]
        return None

    def _sequence(self, conn: psycopg.Connection[DictRow], *, wait: bool) -> int:
        """Number every finished, unnumbered row; return how many were numbered.

        Without `wait` it gives up at once when another process is sequencing.
        """
        began = time.monotonic()
        with conn.cursor() as curs:  # autocommit: the call is its own transaction
            curs.execute(self._sequence_sql, (wait, SEQUENCE_BATCH), prepare=True)
            row = curs.fetchone()
        self._sequenced_at = began
        return 0 if row is None else int(row["numbered"])

    def _sequence_for_reader(self, conn: psycopg.Connection[DictRow]) -> None:
        """The opportunistic call of readers, skipped when this process ran it just now."""
        if time.monotonic() - self._sequenced_at >= SEQUENCE_FRESH_SECONDS:
            self._sequence(conn, wait=False)

    def sequence(self) -> int:
        """Run the sequencer once (waiting for the lock); return how many rows it numbered."""
        with self.datastore.get_connection() as conn:
            return self._sequence(conn, wait=True)

    # ------------------------------------------------------------------ reading

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Events by position, never past a position whose transaction may still commit."""
        after = 0 if start is None else (start - 1 if inclusive_of_start else start)
        return self.select_part(after, limit, stop, topics)

    def select_part(
        self,
        after: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        part: LogPart | None = None,
    ) -> Sequence[Notification]:
        """`select_notifications` after a position, of one part of the log only (`part`)."""
        statement: Composed = self._select_sql
        params: list[Any] = [after]
        if stop is not None:
            statement += SQL(" AND position <= %s")
            params.append(stop)
        if topics:
            statement += SQL(" AND topic = ANY(%s)")
            params.append(list(topics))
        if part is not None:
            # The originator's last byte: its id's sixteenth byte (uuid_send: big-endian).
            chosen = SQL("(topic = ANY(%s) AND get_byte(uuid_send(originator_id), 15) < %s)")
            statement += SQL(" AND ") + (chosen if part.inside else SQL("NOT ") + chosen)
            params += [list(part.topics), part.below]
        statement += SQL(" ORDER BY position LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn:
            self._sequence_for_reader(conn)
            with conn.cursor(row_factory=tuple_row) as curs:  # no dict per row
                curs.execute(statement, params, prepare=True)
                return [
                    Notification(
                        id=position,
                        originator_id=originator_id,
                        originator_version=version,
                        topic=topic,
                        state=bytes(state),
                    )
                    for position, originator_id, version, topic, state in curs.fetchall()
                ]

    def tallies_up_to(self, stop: int) -> dict[tuple[str, int], Tally]:
        """The events up to a position, counted by topic and the last byte of their
        originator's id."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._tallies_sql, (stop,))
            return {(topic, byte): Tally(n, int(total)) for topic, byte, n, total in curs}

    def max_notification_id(self) -> int | None:
        """The highest position assigned so far."""
        with self.datastore.get_connection() as conn:
            self._sequence_for_reader(conn)
            with conn.cursor() as curs:
                curs.execute(self._max_sql)
                row = curs.fetchone()
        return None if row is None or row["m"] is None else int(row["m"])


# The batch statement's arrays (`_append_sql`), each with the type psycopg sends it as:
# a row per aggregate read, per aggregate written (its first new version), per event,
# per hash-chain row and per idempotency record, each naming its save's place.
_BATCH_ARRAYS: dict[str, type[list[Any]]] = {
    "read_saves": BigintArray,
    "read_ids": UuidArray,
    "read_versions": BigintArray,
    "first_saves": BigintArray,
    "first_ids": UuidArray,
    "first_versions": BigintArray,
    "saves": BigintArray,
    "ids": UuidArray,
    "versions": BigintArray,
    "topics": TextArray,
    "states": ByteaArray,
    "hash_saves": BigintArray,
    "hash_ids": TextArray,
    "hash_versions": BigintArray,
    "hashes": TextArray,
    "previous": TextArray,
    "idem_saves": BigintArray,
    "tokens": TextArray,
    "keys": TextArray,
    "fingerprints": TextArray,
    "statuses": BigintArray,
    "bodies": TextArray,
}


def _keys(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], list[int]]:
    """The events' keys for the sequencer's call and the follow-up's check of predicted
    positions: aggregates and versions, aligned."""
    return (
        UuidArray(e.originator_id for e in stored_events),
        BigintArray(e.originator_version for e in stored_events),
    )


def _per_save(batch: list[Write], positions: list[int] | None) -> list[list[int] | None]:
    """The positions of a batch's events (in its order), save by save; None for each
    save when there are none."""
    shares: list[list[int] | None] = []
    at = 0
    for write in batch:
        count = len(write.payload[0])
        shares.append(None if positions is None else positions[at : at + count])
        at += count
    return shares


def _refused(answer: DictRow | None) -> frozenset[int]:
    """The places in the batch of the saves its statement wrote nothing for, because an
    aggregate their command read had moved on."""
    return frozenset() if answer is None else frozenset(answer["stale"])
