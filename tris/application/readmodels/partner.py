"""A rebuild's second process: some agreements' events, applied beside the first.

Decoding and applying events is Python work, and one process does it on one core. Most of
a log is agreements' events, and every read model keeps what those events write by
agreement (or as sums, `Projection.partition_sums`). So a rebuild that starts from the
beginning of a long log hands the events of some agreements (chosen by the last byte of
their id, so that the partner gets a little less than half of all the events: it starts a
new interpreter, and the first process merges), up to a position, to a partner process,
which applies them with the same projections to a stage of its own; the first process
applies everything else, then adds the partner's stage to its own, and the rebuild goes
on as before (ADR 27). Like the first process, the partner keeps the rows of agreements
proposed and not changed since in memory instead of its stage (ADR 36) and hands them
over in a file of their own at its end — unless its part ends at the log's head on
PostgreSQL: it then copies its rows into the fresh tables itself (`Prefill`).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic

from tris.application.collection import bulk_collection
from tris.application.readmodels.base import Applied, Projection, apply_batch, holding, take_held
from tris.domain.agreement import Agreement
from tris.storage.cursors import Cursor
from tris.storage.errors import ProjectionFailedError, StorageUnavailableError, is_unavailable
from tris.storage.log_part import LogPart, Tally, bound_for_share
from tris.storage.stage import Stage

# The partner's share of the events up to its end: the agreements whose id ends in a byte
# below a bound chosen for it (ADR 27). Both processes finish about together at a little
# less than half: on the bench's log, with both processes holding new agreements' rows
# in memory (ADR 36) and the partner ending without its teardown, the partner was done
# 0.2-0.8 s before the first at 0.44 and kept it waiting up to 0.7 s at 0.48. The
# database reads each process its own part.
PARTNER_SHARE = 0.46
# Where this process's TRIS comes from: a partner must run the same (`main` checks).
CODE = str(Path(__file__).resolve().parents[2])


class PartnerLog(Protocol):
    """What the partner needs of the event log: its pages, decoding, and closing."""

    def notifications(
        self, after: int | None, limit: int, *, until: int | None = None, part: LogPart | None
    ) -> Sequence[Notification]:
        """Up to `limit` stored events of `part` after `after` (up to `until`), in order."""
        ...

    def decode(self, stored: Notification) -> Any:
        """The domain event of a stored one."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    @property
    def database(self) -> PartnerDatabase:
        """The store, where a partner's last stage is copied (`Prefill`)."""
        ...


class PartnerDatabase(Protocol):
    """What a partner needs of the store to copy its rows into the fresh tables."""

    def transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in one committed-on-success transaction."""
        ...


@dataclass(frozen=True)
class Prefill:
    """A partner's stage that takes no more events, on PostgreSQL: the partner copies its
    rows into the fresh tables itself once it is done, while the first process still
    applies its part (ADR 27), under the read-model batch lock (`lock`, the advisory
    lock's key) as a swap is. Not the tables of `sums`, whose rows the first process adds
    up with its own."""

    lock: int
    sums: frozenset[str]


@dataclass(frozen=True)
class PartnerRecipe:
    """How a partner process opens the log and makes the projections (both picklable:
    the partner is a new interpreter)."""

    open_log: Callable[[], PartnerLog]
    make_projections: Callable[[], Sequence[Projection]]


def agreement_topics(topics: Iterable[str]) -> tuple[str, ...]:
    """The topics, of those given, of agreements' events (as stored: any name that
    resolves to one)."""
    return tuple(sorted(topic for topic in topics if _is_agreement_event(topic)))


@functools.lru_cache(maxsize=1024)
def _is_agreement_event(topic: str) -> bool:
    try:
        event_class = resolve_topic(topic)
    except Exception:  # an unknown type: the first process decodes it and says so
        return False
    return isinstance(event_class, type) and issubclass(event_class, Agreement.Event)


class Partner:
    """The partner process of one rebuild, applying its events up to `until` to `path`.

    A new interpreter (`python -m` this module), not a fork: this process has threads and
    connections a fork would copy, and `multiprocessing`'s spawn would run the caller's
    main script again. The recipe goes in on its standard input; the outcome comes back
    in a file beside the stage.
    """

    def __init__(
        self,
        recipe: PartnerRecipe,
        path: Path,
        until: int,
        page: int,
        tallies: Mapping[tuple[str, int], Tally],
        below: int | None = None,
        prefill: Prefill | None = None,
    ) -> None:
        """Start the partner on its part of the log up to `until`: of the topics there
        (`tallies`, the events up to `until` by topic and last byte of their originator's
        id), the agreements' whose id ends in a byte below `below` (by default the bound
        that gives it `PARTNER_SHARE` of the events). With `prefill`, it copies its rows
        into the fresh tables itself (`prefilled` says which)."""
        self.path = path
        self.until = until
        # The whole log up to `until`: both processes' parts must add up to it.
        self.log_tally = Tally.total(tallies.values())
        topics = agreement_topics({topic for topic, _ in tallies})
        if below is None:
            below = bound_for_share(tallies, topics, PARTNER_SHARE)
        # The partner's part of the log up to `until`, and the rest (the first process's).
        self.part = LogPart(topics, below, inside=True)
        self.rest = LogPart(topics, below, inside=False)
        self._outcome = path.with_name(path.name + ".outcome")
        # The rows it held in memory to the end instead of writing them to its stage.
        self.held_path = held_path(path)
        flags = ["-" + "O" * sys.flags.optimize] if sys.flags.optimize else []
        # `-P`: the working directory is not put first on the module search path, which
        # is this process's instead: the partner runs the very code this process runs.
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, *flags, "-P", "-m", __name__],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
        # The fresh tables it filled, each one's OID and rows (`wait`).
        self.prefilled: dict[str, tuple[int, int]] = {}
        handed = (
            recipe,
            path,
            until,
            page,
            self.part,
            prefill,
            self._outcome,
            os.getpid(),
            CODE,
        )
        try:
            with cast(IO[bytes], self._process.stdin) as stdin:
                pickle.dump(handed, stdin)
        except BrokenPipeError:
            pass  # it ended at once: `wait` says so

    def wait(self) -> tuple[int, Tally]:
        """Wait until the partner has applied its events; return the position it read its
        part of the log to and the events it applied; raise what it failed with."""
        code = self._process.wait()
        try:
            outcome = json.loads(self._outcome.read_text())
        except (OSError, ValueError):
            outcome = ["ended"]
        if code == 0 and outcome[0] == "done":
            self.prefilled = {t: (int(oid), int(n)) for t, (oid, n) in outcome[4].items()}
            return int(outcome[1]), Tally(int(outcome[2]), int(outcome[3]))
        if outcome[0] == "unavailable":
            raise StorageUnavailableError(outcome[1])
        if outcome[0] == "failed":
            raise ProjectionFailedError(*outcome[1:])
        raise ProjectionFailedError(
            "rebuild",
            0,
            "",
            f"the rebuild's partner process ended without finishing (exit code {code})",
        )

    def held(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows the partner held in memory to its end (new agreements' rows nothing
        changed since, ADR 36), by table: not in its stage. Read once it has finished;
        a handover that cannot be read fails the rebuild (nothing was written yet)."""
        try:
            with self.held_path.open("rb") as file:
                held = pickle.load(file)  # noqa: S301 - our own child's file
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            raise ProjectionFailedError(
                "rebuild",
                self.until,
                "",
                f"the rows the partner process handed over cannot be read: {error}",
            ) from error
        return cast(dict[str, list[tuple[Any, ...]]], held)

    def stop(self) -> None:
        """End the partner if it still runs (the rebuild failed on this side)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()


def main() -> None:
    """The partner process: read the recipe, apply the partnered events up to `until` to
    the stage at `path`, write how it went."""
    handed = pickle.load(sys.stdin.buffer)  # noqa: S301 - our parent's
    recipe, path, until, page, part, prefill, outcome_path, parent, code = handed
    outcome: list[Any]
    try:
        if code != CODE:
            # Another TRIS applies events otherwise: its rows would differ from this
            # version's without any count telling (the events it applied are the same).
            raise ProjectionFailedError(
                "rebuild",
                0,
                "",
                f"the partner process runs TRIS from {CODE}, the rebuild's process from {code}",
            )
        log = recipe.open_log()
        try:
            projections = list(recipe.make_projections())
            with Stage(projections, path) as stage, bulk_collection(), holding(projections):
                last, applied = _apply(log, projections, stage, until, page, part, parent)
                held = take_held(projections)
                prefilled = {} if prefill is None else _prefill(log, stage, prefill, held)
            held = {table: rows for table, rows in held.items() if table not in prefilled}
            with held_path(path).open("wb") as file:
                pickle.dump(held, file, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            log.close()
        outcome = ["done", last, applied.events, applied.positions, prefilled]
    except ProjectionFailedError as error:
        outcome = ["failed", error.projection, error.position, error.event_type, error.cause]
    except Exception as error:
        kind = "unavailable" if is_unavailable(error) else "failed"
        cause = f"{type(error).__name__}: {error}"
        outcome = [kind, cause] if kind == "unavailable" else [kind, "rebuild", 0, "", cause]
    Path(outcome_path).write_text(json.dumps(outcome))
    # Everything is written and closed: end without the interpreter's teardown, which
    # frees the whole heap object by object (~0.3 s on the bench's log) while the first
    # process waits for this one to end.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if outcome[0] == "done" else 1)


def _prefill(
    log: PartnerLog,
    stage: Stage,
    prefill: Prefill,
    held: Mapping[str, Sequence[tuple[Any, ...]]],
) -> dict[str, tuple[int, int]]:
    """Copy the stage's rows and those held into the fresh tables, in one transaction
    under the batch lock, committed without waiting for the disk (fresh names nobody
    reads; the swap's durable commit follows)."""
    with log.database.transaction() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (prefill.lock,))
        return stage.prefill(cur, [t for t in stage.columns if t not in prefill.sums], held)


def held_path(path: Path) -> Path:
    """Where the partner whose stage is at `path` hands over the rows it held."""
    return path.with_name(path.name + ".held")


def _apply(
    log: PartnerLog,
    projections: list[Projection],
    stage: Stage,
    until: int,
    page: int,
    part: LogPart,
    parent: int,
) -> tuple[int, Tally]:
    """Apply the events of `part` up to `until`; return `until` once all are applied, and
    what was applied. The next page is read on a second thread while this one decodes and
    applies the current one, as the first process does."""
    after = 0
    applied = Tally()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tris-partner-read") as reader:
        upcoming = reader.submit(log.notifications, after, page, until=until, part=part)
        while True:
            if os.getppid() != parent:  # the rebuild's process is gone: nobody will merge this
                raise SystemExit(1)
            notifications = upcoming.result()
            if not notifications:
                return until, applied
            after = notifications[-1].id
            upcoming = reader.submit(log.notifications, after, page, until=until, part=part)
            events = [(n, log.decode(n)) for n in notifications]
            with stage.batch() as cur:
                apply_batch(cur, projections, functools.partial(_every, events))
            applied = applied.counting([n.id for n in notifications])


def _every(events: Applied, projection: Projection) -> Applied:
    """The whole page, for every projection (the partner starts each from nothing)."""
    return events


if __name__ == "__main__":
    main()
