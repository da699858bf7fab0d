"""Projections that work on SQLite and PostgreSQL alike, each event applied exactly once.

A projection reads the application's notification log after its tracked position and
applies each event to its read-model tables. The read-model changes and the new tracked
position are written in ONE transaction, and the tracking row is advanced with a
compare-and-set (`UPDATE … WHERE position = <old>`): a crash at any point leaves either
both or neither, and when several workers race for the same batch exactly one commits it.
This needs nothing but polling the log, so it works where the library's subscriptions
do not (its SQLite recorder has none).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Notification, Recording, StoredEvent

from tris.application.collection import bulk_collection
from tris.application.errors import ConcurrentUpdateError
from tris.application.readmodels.base import Applied, Projection, apply_batch, holding, take_held
from tris.application.readmodels.partner import Partner, PartnerRecipe, Prefill
from tris.application.store import EventStore
from tris.storage import tracking
from tris.storage.cursors import Cursor, RecordingCursor
from tris.storage.database import Database
from tris.storage.errors import ProjectionFailedError, is_unavailable
from tris.storage.follow_up import FollowUp
from tris.storage.log_part import Tally
from tris.storage.schema import schema_is_current
from tris.storage.stage import Stage

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
WORKER_ALIVE_SECONDS = 5.0

# A rebuild in progress; and one that has written its stage to the store at least once.
REBUILD_STARTED = "rebuild"
REBUILD_FLUSHED = "rebuild-flushed"
REBUILD_PAGE = 2_000
REBUILD_FLUSH_EVENTS = 250_000
# Below this, starting a second interpreter costs more than it saves.
REBUILD_PARTNER_EVENTS = 20_000
# Events handed over by this process's commands and not applied yet, kept at most.
HANDED_MAX = 4_096
# The advisory lock under which one batch at a time is applied on PostgreSQL.
PROJECTION_LOCK = 0x7472697300000002  # "tris" + 2 (the sequencer's is + 1)


@dataclass(frozen=True)
class ProjectionStatus:
    """Where a projection stands: its position, the log's head and the lag between them."""

    name: str
    position: int
    head: int
    lag: int
    # The latest failure on an event it has not applied yet: (position, type, error, when).
    failure: tuple[int, str, str, str] | None = None


class ProjectionRunner:
    """Brings projections up to date from the event log, in batches, exactly once."""

    def __init__(
        self,
        store: EventStore,
        projections: Iterable[Projection],
        *,
        batch_size: int = 500,
        partner: PartnerRecipe | None = None,
    ) -> None:
        self.store = store
        self.database: Database = store.database
        self.projections = list(projections)
        self.batch_size = batch_size
        self.rebuild_page = REBUILD_PAGE
        self.rebuild_flush_events = REBUILD_FLUSH_EVENTS
        # A rebuild from the start of a log at least this long takes a partner process
        # (ADR 27), when it knows how to start one.
        self.partner = partner
        self.rebuild_partner_events = REBUILD_PARTNER_EVENTS
        # The partner's byte bound (`LogPart`); None: the one that balances the work.
        self.rebuild_partner_bound: int | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        # Leader and followers (`_catch_up_until`): the position every projection had
        # passed at the end of the latest batch, the highest one wanted.
        self._last_reached = 0
        self._wanted = 0
        self._alive_checked = (0.0, False)
        # Events this process just saved, by position, as its commands recorded them:
        # a catch-up after a command applies them from here instead of reading them back
        # from the log and decoding them once more (`hand_over`).
        self._handed: dict[int, tuple[Notification, Any]] = {}
        self._create_tables()

    # ------------------------------------------------------------------ schema

    def _create_tables(self) -> None:
        with self.database.transaction() as cur:
            statements = [*tracking.TABLES, *tracking.BACKEND_STATEMENTS[self.database.backend]]
            for projection in self.projections:
                statements += [
                    *projection.tables,
                    *projection.indexes,
                    *projection.backend_indexes.get(self.database.backend, ()),
                ]
            if not schema_is_current(cur, self.database.backend, statements):
                for ddl in statements:
                    cur.execute(ddl)
            for projection in self.projections:
                version = tracking.schema_version(cur, projection.name)
                if version is None:
                    tracking.track(cur, projection.name, projection.schema_version)
                elif version != projection.schema_version:
                    # The read model's shape changed: rebuild it from the log.
                    projection.reset(cur)
                    tracking.restart(cur, projection.name, projection.schema_version)

    # ---------------------------------------------------------------- progress

    def positions(self) -> dict[str, int]:
        """Each projection's tracked position."""
        with self.database.read() as cur:
            return tracking.positions(cur)

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.store.log.head()

    def status(self) -> list[ProjectionStatus]:
        """Position and lag of every projection."""
        head = self.head()
        positions = self.positions()
        failed = self.failures()
        return [
            ProjectionStatus(
                p.name,
                positions.get(p.name, 0),
                head,
                head - positions.get(p.name, 0),
                failed.get(p.name),
            )
            for p in self.projections
        ]

    def failures(self) -> dict[str, tuple[int, str, str, str]]:
        """Each read model that failed on an event it has not applied since (a failure
        row stays until the next one replaces it; one the projection has passed is over)."""
        with self.database.read() as cur:
            positions = tracking.positions(cur)
            return {
                name: failure
                for name, failure in tracking.failures(cur).items()
                if failure[0] > positions.get(name, 0)
            }

    def caught_up_to(self, positions: Mapping[str, int] | None = None) -> int:
        """The lowest position every projection has passed (of `positions` when given, each
        projection's tracked position as read with a page; read now otherwise)."""
        if positions is None:
            positions = self.positions()
        return min((positions.get(p.name, 0) for p in self.projections), default=0)

    # ----------------------------------------------------------------- running

    def catch_up(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        until: int | None = None,
        recorded: Sequence[Recording[Any]] = (),
    ) -> int:
        """Apply every event not yet applied; return how many were applied (all projections).

        With `until`, stop as soon as every projection has passed that position (a
        command's own events, `recorded`: applied as they are, not read back from the log)
        instead of reading the log once more to find it empty.
        """
        if until is not None and progress is None:
            if self._applied(until):
                return 0
            self.hand_over(recorded)
            return self._catch_up_until(until)
        applied = 0
        with self._lock:
            while True:
                batch, reached = self._step_once()
                applied += batch
                if progress is not None:
                    progress(self.caught_up_to(), self.head())
                if reached is None or (until is not None and reached >= until):
                    break
        with self._changed:
            self._changed.notify_all()
        return applied

    def _catch_up_until(self, until: int) -> int:
        """Catch up past `until`: as the leader, or by waiting for the thread that is.

        Commands that finish together in one process need one batch, not one each: the
        first takes the lock and applies everything committed so far, for everybody; the
        others wait until a batch has passed their positions (a batch that passed a
        position applied it: `_applied`), or until the leader stops, and then lead
        themselves.
        """
        with self._changed:
            self._wanted = max(self._wanted, until)
        while True:
            if self._applied(until):
                return 0
            if self._lock.acquire(blocking=False):
                applied = 0
                try:
                    while True:
                        with self._changed:
                            target = max(self._wanted, until)
                        batch, reached = self._step_once()
                        applied += batch
                        if reached is None or reached >= target:
                            break
                finally:
                    with self._changed:
                        self._wanted = 0
                        self._lock.release()
                        self._changed.notify_all()
                return applied
            with self._changed:
                self._changed.wait_for(
                    lambda: self._last_reached >= until or not self._lock.locked(), timeout=1.0
                )

    def hand_over(self, recorded: Sequence[Recording[Any]]) -> None:
        """Keep events this process saved (with their positions) for the next batch, which
        applies them without reading the log: a command never reads back its own write.

        Only a run of positions right after where the projections stand is taken from
        here; whatever else lies between (other processes' events) is read from the log.
        Entries the projections have passed are dropped at each batch, and the oldest
        beyond `HANDED_MAX` at once (nobody catching up: a worker applies the events).
        """
        if not recorded:
            return
        with self._changed:
            for recording in recorded:
                self._handed[recording.notification.id] = (
                    recording.notification,
                    recording.domain_event,
                )
            if len(self._handed) > HANDED_MAX:
                for position in sorted(self._handed)[: len(self._handed) - HANDED_MAX]:
                    del self._handed[position]

    def follow_up(self, first: int, events: Sequence[tuple[StoredEvent, Any]]) -> FollowUp | None:
        """PostgreSQL: the read-model statements of a batch of saves, written down for the
        positions predicted for its events (`first` on), to go out in the saves' own round
        trip (ADR 35): the claim (`tracking.claim_ahead`, every projection from
        `first - 1`), then each projection's statements.

        None when the projections did not stand right before `first` when this process
        last looked (another process's events lie between), or another thread of this
        process is applying a batch: the events are then applied after the commit, as
        before. No statements when a projection needs an answer from the database to
        write its rows (`_NeedsAnswerError`). The lock taken here is released by `settle`,
        which the recorder calls once the round trip is over.
        """
        if self.database.backend != "postgres" or not events:
            return None
        with self._changed:
            if self._last_reached != first - 1:
                return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            last = first + len(events) - 1
            handed = [
                (
                    Notification(
                        id=first + i,
                        originator_id=stored.originator_id,
                        originator_version=stored.originator_version,
                        topic=stored.topic,
                        state=stored.state,
                    ),
                    event,
                )
                for i, (stored, event) in enumerate(events)
            ]
            names = sorted(p.name for p in self.projections)
            todo, behind = self._plan(handed, dict.fromkeys(names, first - 1))
            recording = RecordingCursor()
            tracking.claim_ahead(recording, PROJECTION_LOCK, names, first, last)
            try:
                self._apply_events(recording, behind, todo)
                statements = recording.statements
            except ProjectionFailedError:
                # A projection needs an answer (or fails: the batch after the commit
                # reports it where operators look).
                statements = []
        except BaseException:
            self._lock.release()
            raise

        def settle(applied: bool) -> None:
            try:
                if not applied:
                    # Facts kept from events that may never be saved, or not there.
                    ahead = [event for _, event in events]
                    for projection in self.projections:
                        projection.forget_ahead(ahead)
                    return
                self._forget_handed(last)
                with self._changed:
                    self._last_reached = max(self._last_reached, last)
                    self._changed.notify_all()
            finally:
                self._lock.release()

        return FollowUp(statements, settle)

    def _take_handed(self, start: int) -> list[tuple[Notification, Any]]:
        """The handed-over events right after `start` (`_handed_from`); those at or before
        `start` are forgotten."""
        self._forget_handed(start)
        return self._handed_from(start + 1)

    def _handed_from(self, first: int | None) -> list[tuple[Notification, Any]]:
        """The handed-over events from position `first` (the lowest held when None) as far
        as they run on without a gap, at most a batch; none when they stop short of a
        position a command waits for: the log has it, and one batch read from there
        serves every command waiting instead of one batch each (so does a position
        numbered before this process's latest save was, which the log has too)."""
        with self._changed:
            if not self._handed:
                return []
            position = min(self._handed) if first is None else first
            events: list[tuple[Notification, Any]] = []
            while position in self._handed and len(events) < self.batch_size:
                events.append(self._handed[position])
                position += 1
            if (
                events
                and len(events) < self.batch_size
                and (position <= max(self._wanted, self.store.log.given_out()))
            ):
                return []
            return events

    def _applied(self, until: int) -> bool:
        """True when a batch of this process passed `until` already: another thread's
        batch, which read the log after the command committed, applied its events, and a
        step of its own would find nothing to do (two reads for nothing). Positions are
        dense and numbered after commit, so a batch that passed `until` applied it."""
        with self._changed:
            return self._last_reached >= until

    def _step_once(self) -> tuple[int, int | None]:
        """One `_step`, repeated when another worker won the race; tells the waiters."""
        while True:
            try:
                applied, reached, start = self._step()
            except _LostRaceError:
                continue
            with self._changed:
                self._last_reached = max(start, reached or 0)
                self._changed.notify_all()
            return applied, reached

    def _step(self) -> tuple[int, int | None, int]:
        """One batch for each projection: the events applied, the position every
        projection has passed since (None when there was nothing left to read), and the
        one every projection had passed before.

        On PostgreSQL the batch runs under an advisory lock, its positions read under it:
        the API processes and workers apply one after another instead of racing for the
        same events and throwing away the loser's work (a process that waited finds its
        events applied by the one before it). SQLite has one writer anyway.
        """
        try:
            if self.database.backend != "postgres":
                return self._batch(None, self.positions())
            handed = self._handed_from(None)
            stepped = self._step_handed(handed) if handed else self._step_from_log()
            if stepped is not None:
                return stepped
            with self.database.transaction() as cur:
                return self._batch(cur, tracking.begin_batch(cur, PROJECTION_LOCK))
        except ProjectionFailedError as failure:
            # The batch rolled back; the failure is kept where operators look for it.
            log.error("%s", failure.detail)
            with self.database.transaction() as cur:
                tracking.record_failure(
                    cur, failure.projection, failure.position, failure.event_type,
                    failure.cause,
                )  # fmt: skip
            raise

    def _step_handed(
        self, handed: list[tuple[Notification, Any]]
    ) -> tuple[int, int | None, int] | None:
        """PostgreSQL: `_step` for a run of events this process saved (ADR 29), in one
        pipelined transaction: the claim (`tracking.claim_batch`) goes out with BEGIN, the
        read-model statements and COMMIT together after it. When the projections stand
        before the run (another process's events come first), an ordinary batch follows
        in the same transaction.

        In a pipeline a failing statement is reported at the next read, not where it
        failed; so on any failure but the database being away this returns None and the
        caller runs the batch statement by statement, where a failure is reported at its
        event.
        """
        first, last = handed[0][0].id, handed[-1][0].id
        names = sorted(p.name for p in self.projections)
        if self._last_reached == first - 1:
            # The read models stood right before this run when this process last looked:
            # claimed optimistically, in one round trip.
            stepped = self._step_optimistic(handed, names)
            if stepped is not None:
                return stepped
        try:
            with self.database.pipelined() as cur:
                positions, claimed = tracking.claim_batch(cur, PROJECTION_LOCK, names, first, last)
                if not claimed:
                    return self._batch(cur, positions)
                todo, behind = self._plan(handed, positions)
                self._apply_events(cur, behind, todo)
        except _LostRaceError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.warning("read models: a pipelined batch failed (%s); once more, plainly", exc)
            return None
        start = min((positions.get(p.name, 0) for p in self.projections), default=0)
        reached = min((max(positions.get(p.name, 0), last) for p in self.projections), default=0)
        self._forget_handed(reached)
        return sum(len(items) for items in todo.values()), reached, start

    def _step_optimistic(
        self, handed: list[tuple[Notification, Any]], names: list[str]
    ) -> tuple[int, int | None, int] | None:
        """A batch of `events` (handed over, or read from the log by `_step_from_log`)
        when every projection is expected right before them: the claim
        (`tracking.claim_exactly`), the statements and COMMIT in one round trip. None
        when the projections stood elsewhere (the claim refused, nothing written) or the
        batch failed otherwise: the caller then claims as usual."""
        first, last = handed[0][0].id, handed[-1][0].id
        positions = dict.fromkeys(names, first - 1)
        todo, behind = self._plan(handed, positions)
        try:
            with self.database.pipelined() as cur:
                tracking.claim_exactly(cur, PROJECTION_LOCK, names, first, last)
                self._apply_events(cur, behind, todo)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            if not tracking.refused_claim(exc):
                log.warning("read models: a pipelined batch failed (%s); once more", exc)
            return None
        self._forget_handed(last)
        return sum(len(items) for items in todo.values()), last, first - 1

    def _step_from_log(self) -> tuple[int, int | None, int] | None:
        """PostgreSQL, with nothing handed over (another process's events come next):
        where the projections stand and the events after it, read without the batch lock,
        then claimed optimistically with the statements and COMMIT in one round trip
        (`_step_optimistic`). The lock is held while the database runs that one round
        trip, not across reading the log and applying it in Python. None when the
        projections stand at different positions or moved meanwhile: the caller then
        takes the lock first, as before."""
        names = sorted(p.name for p in self.projections)
        positions = self.positions()
        start = min((positions.get(name, 0) for name in names), default=0)
        if any(positions.get(name, 0) != start for name in names):
            return None
        notifications = self.store.log.notifications(start, self.batch_size)
        if not notifications:
            return 0, None, start
        events = [(n, self.store.log.decode(n)) for n in notifications]
        return self._step_optimistic(events, names)

    def _plan(
        self, events: list[tuple[Notification, Any]], positions: dict[str, int]
    ) -> tuple[dict[str, list[tuple[Notification, Any]]], list[Projection]]:
        """Each projection's events after its position, and the projections with any (in
        name order, the order their tracking rows are taken in)."""
        todo = {
            p.name: [(n, e) for n, e in events if n.id > positions.get(p.name, 0)]
            for p in self.projections
        }
        behind = sorted((p for p in self.projections if todo[p.name]), key=lambda p: p.name)
        return todo, behind

    def _forget_handed(self, upto: int) -> None:
        """Drop the handed-over events every projection has passed."""
        with self._changed:
            for position in [p for p in self._handed if p <= upto]:
                del self._handed[position]

    def _batch(self, cur: Cursor | None, positions: dict[str, int]) -> tuple[int, int | None, int]:
        """`_step` from these positions: in the caller's transaction when given (the
        locked one), else in a transaction of its own once there is something to apply."""
        start = min((positions.get(p.name, 0) for p in self.projections), default=0)
        events = self._take_handed(start)
        if not events:
            notifications = self.store.log.notifications(start, self.batch_size)
            if not notifications:
                return 0, None, start
            events = [(n, self.store.log.decode(n)) for n in notifications]
        todo, behind = self._plan(events, positions)
        if behind:
            self._apply_batch(cur, behind, positions, todo)
        return sum(len(items) for items in todo.values()), events[-1][0].id, start

    def _apply_batch(
        self,
        cur: Cursor | None,
        behind: list[Projection],
        positions: dict[str, int],
        todo: dict[str, list[tuple[Notification, Any]]],
    ) -> None:
        """`_apply_to` in the caller's transaction, or in one of its own (SQLite: begun
        only now, so the single writer is held no longer than the batch's statements)."""
        if cur is not None:
            self._apply_to(cur, behind, positions, todo)
            return
        with self.database.transaction() as own:
            self._apply_to(own, behind, positions, todo)

    def _apply_to(
        self,
        cur: Cursor,
        behind: list[Projection],
        positions: dict[str, int],
        todo: dict[str, list[tuple[Notification, Any]]],
    ) -> None:
        """Apply a batch to every projection behind, with their positions, in the caller's
        transaction.

        Tracking rows are taken first, in name order, then read-model rows (the order
        `_rewind` takes them in too); each position advances by compare-and-set.
        """
        # On PostgreSQL the batch began without waiting for its WAL flush (read models are
        # derived: a batch lost in a crash is lost whole, tracking row included, and
        # applied again), which saves a disk sync per batch (`tracking.begin_batch`).
        moves = [(p.name, positions.get(p.name, 0), todo[p.name][-1][0].id) for p in behind]
        if not tracking.advance_all(cur, self.database.backend, moves):
            # Another worker applied this batch first; the next round reads its position.
            raise _LostRaceError("another worker applied this batch first")
        self._apply_events(cur, behind, todo)

    @staticmethod
    def _apply_events(
        cur: Cursor, behind: list[Projection], todo: dict[str, list[tuple[Notification, Any]]]
    ) -> None:
        """Apply each projection its events, then what it kept back for the batch's end."""
        apply_batch(cur, behind, lambda projection: todo[projection.name])

    def run_forever(self, stop: threading.Event, *, interval: float = 0.05) -> None:
        """Poll the log and apply new events until `stop` is set (the worker loop)."""
        worker_id = uuid.uuid4().hex
        last_beat = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self.heartbeat(worker_id)
                    last_beat = time.monotonic()
                if self.catch_up() == 0:
                    stop.wait(interval)
            except Exception:  # a worker must survive a passing database outage
                log.exception("projection worker: catch-up failed; retrying")
                stop.wait(1.0)

    def heartbeat(self, worker_id: str) -> None:
        """Tell API processes that a worker is applying events (see `workers_alive`)."""
        with self.database.transaction() as cur:
            tracking.heartbeat(cur, worker_id)

    def workers_seen_alive(self) -> bool:
        """What `workers_alive` found last, without asking the database (for a caller that
        must not wait for a connection: a save's follow-up, ADR 35)."""
        return self._alive_checked[1]

    def workers_alive(self) -> bool:
        """True when some worker sent a heartbeat recently (checked at most once a second)."""
        checked_at, alive = self._alive_checked
        if time.monotonic() - checked_at < HEARTBEAT_SECONDS:
            return alive
        with self.database.read() as cur:
            alive = tracking.workers_seen(cur, WORKER_ALIVE_SECONDS) > 0
        self._alive_checked = (time.monotonic(), alive)
        return alive

    def after_commit(
        self,
        position: int | None,
        mode: str,
        timeout: float,
        recorded: Sequence[Recording[Any]] = (),
    ) -> None:
        """Make a committed command visible to queries before it answers (read-your-writes).

        `inline` applies pending events here; `worker` waits (bounded) for the workers;
        `auto` waits for workers when one is alive and applies events itself otherwise.
        A failure here never turns a committed command into an error.
        """
        try:
            if mode == "worker" or (mode == "auto" and self.workers_alive()):
                self.wait_for(position, timeout)
            else:
                self.catch_up(until=position, recorded=recorded)
        except Exception:  # the events are safe; a worker or the next command catches up
            log.exception("read models: catch-up after a command failed")

    def holds(self, position: int) -> bool:
        """Whether a batch of this process passed `position` (without asking the database)."""
        return self._applied(position)

    def held_elsewhere(self, position: int) -> None:
        """The writer process (ADR 38) answered that its read models hold every event up
        to `position`: a command of this process that it saved need not catch up itself.
        What projections keep in memory stays true (`Remembered`: facts that never
        change), as after any batch another process applied."""
        with self._changed:
            if position > self._last_reached:
                self._last_reached = position
                self._changed.notify_all()

    def wait_for(self, position: int | None, timeout: float) -> bool:
        """Block until every projection passed `position`, at most `timeout` seconds."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        while self.caught_up_to() < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait(min(remaining, 0.02))
        return True

    # --------------------------------------------------------------- rebuilding

    def reset(self) -> None:
        """Empty every read model and rewind its tracking to the start of the log."""
        with self._lock, self.database.transaction() as cur:
            self._forget_reached()
            self._rewind(cur)

    def _forget_reached(self) -> None:
        """The read models are about to move back (a rewind, a rebuild writing its stage):
        no command may count on a batch passed before (`_applied`)."""
        with self._changed:
            self._last_reached = 0

    def _lock_batches(self, cur: Cursor) -> None:
        """PostgreSQL: hold off every read-model batch until this transaction ends."""
        if self.database.backend == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (PROJECTION_LOCK,))

    def _rewind(self, cur: Cursor) -> None:
        # No batch runs meanwhile (the batch lock); without it (SQLite): tracking rows
        # first, in name order, then the read-model rows, as a batch takes them.
        self._lock_batches(cur)
        for projection in sorted(self.projections, key=lambda p: p.name):
            tracking.move(cur, projection.name, 0)
        for projection in self.projections:
            projection.reset(cur)
        tracking.forget_failures(cur)

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> bool:
        """Rebuild every read model from the log; resume an interrupted rebuild.

        The projections apply the log to a scratch copy of their tables (`Stage`), which
        replaces the store's read models in one transaction, tracking positions included,
        every `rebuild_flush_events` events and at the end. Until the first such write the
        read models in the store stay as they were, and workers keep them current. A
        rebuild interrupted after a write resumes from it (the `rebuild-flushed` marker);
        one interrupted before starts over. Events written meanwhile are applied after.

        Returns True when it resumed a rebuild that an earlier run did not finish.
        """
        with self._lock:
            self._forget_reached()
            with self.database.transaction() as cur:
                markers = tracking.rebuild_markers(cur)
                if REBUILD_STARTED not in markers:
                    tracking.mark_rebuild(cur, REBUILD_STARTED)
            with Stage(self.projections) as stage:
                positions = {p.name: 0 for p in self.projections}
                if REBUILD_FLUSHED in markers:
                    with self.database.snapshot() as cur:
                        stage.load(cur)
                        tracked = tracking.positions(cur)
                    positions = {name: tracked.get(name, 0) for name in positions}
                with bulk_collection(), holding(self.projections):
                    self._build(stage, positions, progress)
        self.catch_up(progress)
        return REBUILD_STARTED in markers

    def _build(
        self,
        stage: Stage,
        positions: dict[str, int],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Apply the log after `positions` to the stage, writing it to the store as it goes.

        The next page of the log is read on a second thread while this one decodes and
        applies the current page (reading waits on the database, not on Python). From the
        start of a long log, a partner process applies half the agreements' events up to
        the first write meanwhile, and its stage is added to this one (ADR 27).
        """
        head = self.head()
        unwritten = 0
        event_log = self.store.log
        partner = self._partner(stage, positions, head)
        until = None if partner is None else partner.until
        # While the partner works, this process reads only the other part of the log.
        mine = None if partner is None else partner.rest
        applied = Tally()  # of this process's part, while the partner works
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tris-rebuild-read") as reader:
            page = reader.submit(
                event_log.notifications,
                min(positions.values(), default=0),
                self.rebuild_page,
                until=until,
                part=mine,
            )
            try:
                while True:
                    notifications = page.result()
                    if not notifications and partner is not None:
                        # Up to its position: add what the partner applied, then go on
                        # alone; or, at the log's end, write both stages as they are.
                        final = self._join(stage, partner, head, applied)
                        # Both parts are applied up to where the partner's ended.
                        positions = {n: max(at, partner.until) for n, at in positions.items()}
                        partner, until, mine = None, None, None
                        if final:  # later events: `catch_up`, after the rebuild
                            self._write_stage(stage, positions, finished=True)
                            return
                        page = reader.submit(
                            event_log.notifications, min(positions.values()), self.rebuild_page
                        )
                        continue
                    if notifications:
                        page = reader.submit(
                            event_log.notifications,
                            notifications[-1].id,
                            self.rebuild_page,
                            until=until,
                            part=mine,
                        )
                    self._apply_to_stage(stage, positions, notifications)
                    if partner is not None:
                        applied = applied.counting([n.id for n in notifications])
                    if notifications:
                        last = notifications[-1].id
                        positions = {name: max(at, last) for name, at in positions.items()}
                        unwritten += len(notifications)
                        if progress is not None:
                            progress(last, max(head, last))
                    if partner is not None:
                        continue  # nothing is written before the partner's part is added
                    if not notifications or unwritten >= self.rebuild_flush_events:
                        self._write_stage(stage, positions, finished=not notifications)
                        unwritten = 0
                    if not notifications:
                        return
            finally:
                if partner is not None:
                    partner.stop()

    def _apply_to_stage(
        self, stage: Stage, positions: dict[str, int], notifications: Sequence[Notification]
    ) -> None:
        """Decode a page of the log and apply it to the stage in one transaction (each
        projection the events after its position)."""
        events = [(n, self.store.log.decode(n)) for n in notifications]

        def after_position(projection: Projection) -> Applied:
            after = positions[projection.name]
            return events if not after else [pair for pair in events if pair[0].id > after]

        with stage.batch() as cur:
            apply_batch(cur, self.projections, after_position)

    def _partner(self, stage: Stage, positions: dict[str, int], head: int) -> Partner | None:
        """A partner process for a rebuild from the start of a long enough log (the
        events up to the first write to the store), or None."""
        if self.partner is None or any(positions.values()) or head < self.rebuild_partner_events:
            return None
        until = min(head, self.rebuild_flush_events)
        tallies = self.store.log.tallies_up_to(until)
        # Its stage takes no more events when its part ends at the head (`_join`): on
        # PostgreSQL it then copies its rows into the fresh tables itself, while this
        # process still applies its part.
        prefill = None
        if until >= head and self.database.backend == "postgres":
            prefill = Prefill(PROJECTION_LOCK, frozenset(self._partition_sums()))
        return Partner(
            self.partner,
            stage.partner_path(),
            until,
            self.rebuild_page,
            tallies,
            self.rebuild_partner_bound,
            prefill,
        )

    def _join(self, stage: Stage, partner: Partner, head: int, applied: Tally) -> bool:
        """Wait for the partner, who must have read its part of the log as far as this
        process read the rest (`partner.until`), and add its stage to this one's. What
        both applied (`applied` here) must be the log up to there, event for event (counted
        by the database when the partner started). True when its part ends at the log's
        `head` (as it was when the rebuild began): its rows are then read from its own
        file when the stage is written, and not copied into this one first."""
        try:
            reached, theirs = partner.wait()
        finally:
            partner.stop()
        if reached != partner.until:
            raise ProjectionFailedError(
                "rebuild",
                partner.until,
                "",
                f"the partner process read the log to position {reached}, "
                f"this one to {partner.until}",
            )
        if applied.plus(theirs) != partner.log_tally:
            raise ProjectionFailedError(
                "rebuild",
                partner.until,
                "",
                f"the log holds {partner.log_tally.events} events up to position "
                f"{partner.until}; this process applied {applied.events} of them and the "
                f"partner {theirs.events} (position sums {applied.positions} + "
                f"{theirs.positions}, not {partner.log_tally.positions})",
            )
        final = partner.until >= head
        stage.merge(
            partner.path,
            self._partition_sums(),
            _add_decimals,
            copy_rows=not final,
            held=partner.held(),
            prefilled=partner.prefilled,
        )
        return final

    def _partition_sums(self) -> dict[str, Sequence[str]]:
        return {
            table: columns
            for projection in self.projections
            for table, columns in projection.partition_sums.items()
        }

    def _write_stage(self, stage: Stage, positions: dict[str, int], *, finished: bool) -> None:
        """Replace the store's read models and positions with the stage, in one transaction.

        The tracking rows are taken first, in name order (as every batch takes them); a
        worker that applied events meanwhile loses its next compare-and-set and applies
        them again on top of the stage's state.
        """
        # Rows held in memory go to the store without the stage when it is the last write
        # (ADR 36); otherwise the stage must have them for its later writes.
        held = take_held(self.projections) if finished else {}
        if not finished:
            with stage.batch() as staged:
                for projection in self.projections:
                    projection.write_held(staged)
        with self.database.transaction() as cur:
            self._lock_batches(cur)
            for projection in sorted(self.projections, key=lambda p: p.name):
                tracking.move(cur, projection.name, positions[projection.name])
            stage.write(cur, self.database.backend, self.database.transaction, held)
            if finished:
                tracking.finish_rebuild(cur)
            else:
                tracking.mark_rebuild(cur, REBUILD_FLUSHED)

    def digest(self) -> str:
        """SHA-256 over everything a user can observe of the read models: every column that
        reaches an answer, each table's rows in the order its lists show them.

        Left out, each for a reason: the values of the `seq` columns (store positions; the
        rows are read in their order, so the order they give lists and pages is covered),
        and SQLite's `rm_agreements_search` (an index its triggers derive from
        `search_text`, which is covered; the answers' rows are decided by `search_text`).
        """
        hasher = hashlib.sha256()
        with self.database.read() as cur:
            for projection in self.projections:
                for query in projection.digest_queries:
                    hasher.update(query.encode())
                    cur.execute(query)
                    for row in cur.fetchall():
                        hasher.update(repr(tuple(_normalise(v) for v in row)).encode())
        return hasher.hexdigest()


def _add_decimals(a: str, b: str) -> str:
    """Two decimal strings added, as the read models add them."""
    return str(Decimal(a) + Decimal(b))


def _normalise(value: Any) -> Any:
    """Make a value compare equal across SQLite and PostgreSQL drivers."""
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


class _LostRaceError(ConcurrentUpdateError):
    """Another worker advanced the tracking row first."""
