"""The agreements read model: listing and search, revisions, commitments and totals.

One projection (one tracked position, one schema version) whose tables belong to three
concepts, each in its own module: `listing` (the agreement rows and their governing
parties), `revisions`, and `commitments` (with fulfilments and totals). `apply` only
dispatches each event to them. No personal data enters any of these tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from tris.application.readmodels.agreements import commitments, listing, revisions, search
from tris.application.readmodels.base import Projection
from tris.domain.agreement import Agreement
from tris.domain.values import SectorMix
from tris.storage.cursors import Cursor

Handler = Callable[[Cursor, str, int, Any], None]

# While a rebuild holds new agreements' rows in memory (`holding`): at most about this
# many bytes of their text (content as JSON, title, purpose, search text); beyond, they
# are written to the stage as in any batch.
HELD_BYTES = 128 * 1024 * 1024


class AgreementsProjection(Projection):
    """Agreements for search and lists, their commitments, and the sector's totals."""

    name = "agreements"
    # 2: `rm_published` (the agreements whose content in force says `public`).
    # 3: `rm_revisions` as orjson writes JSON (compact, UTF-8; ADR 31).
    schema_version = 3
    tables = (*listing.TABLES, revisions.TABLE, *commitments.TABLES)
    indexes = (*listing.INDEXES, *commitments.INDEXES)
    # The `q` search (`search_text LIKE '%term%'`) through a trigram index on each backend
    # (ADR 13). Neither holds anything the digest or a rebuild must copy: PostgreSQL keeps
    # its index itself; on SQLite, triggers keep the full-text table in step.
    backend_indexes = {
        "postgres": (search.REQUIRE_PG_TRGM, search.SEARCH_INDEX_POSTGRES),
        "sqlite": (
            search.SEARCH_TABLE_SQLITE,
            *search.SEARCH_TRIGGERS_SQLITE,
            search.SEARCH_FILL_SQLITE,
        ),
    }
    digest_queries = (
        *listing.DIGEST_QUERIES,
        *commitments.DIGEST_QUERIES,
        *revisions.DIGEST_QUERIES,
    )

    partition_sums = {"rm_commitment_totals": ("committed", "fulfilled")}
    # A revision is read by its key alone; no query filters or sorts on an agreement's
    # title or purpose (`q` searches `search_text`), and ANALYZE sorts every sampled value
    # of each column it looks into (of the bench's 100,000 agreements: 0.11 s of 0.31).
    unanalysed = {
        "rm_revisions": ("content", "sectors"),
        "rm_agreements": ("title", "purpose"),
    }

    def __init__(self) -> None:
        self.revisions = revisions.Revisions()
        self.listing = listing.Listing(self.revisions)
        self.commitments = commitments.Commitments(self.revisions)
        self._touched: dict[str, tuple[int, str]] = {}
        # Agreements proposed whose rows are not written yet: their rows (agreement,
        # parties, revision) go in one statement per table, written before any other
        # event of theirs is applied, and at the batch's end; while a rebuild holds them
        # (`holding`, ADR 36), not at the batch's end but by its write, unless another
        # event of theirs came first or they outgrow `held_bytes`. By agreement, the
        # bytes of its text.
        self._new: dict[str, int] = {}
        self.held_bytes = HELD_BYTES
        self._holding_bytes = 0
        self._handlers: dict[type[Any], Handler] = {
            Agreement.Proposed: self._proposed,
            Agreement.ProposedAtMarket: self._proposed,
            Agreement.Revised: self._revised,
            Agreement.AmendmentProposed: self._amendment_proposed,
            Agreement.AmendmentRejected: self._amendment_rejected,
            Agreement.Concluded: self._concluded,
            Agreement.AmendmentAdopted: self._amendment_adopted,
            Agreement.Withdrawn: self._status("withdrawn"),
            Agreement.Completed: self._status("completed"),
            Agreement.Terminated: self._status("terminated"),
            Agreement.FulfilmentRecorded: self._fulfilment_recorded,
            Agreement.FulfilmentConfirmed: self._fulfilment_confirmed,
            Agreement.FulfilmentDisputed: self._fulfilment_disputed,
        }

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply an Agreement event; other events are ignored."""
        if not type(event).__qualname__.startswith("Agreement."):
            return
        agreement_id = str(event.originator_id)
        handler = self._handlers.get(type(event))
        if handler is not None:
            if isinstance(event, Agreement.Proposed):
                handler(cur, agreement_id, position, event)
                return  # the new row carries the event's version and time already
            if agreement_id in self._new:
                self._write_new(cur, (agreement_id,) if self.holding else None)
            handler(cur, agreement_id, position, event)
        # Every event moves the row's version and time: written once per agreement and
        # batch (`flush`), the batch's last event's.
        self._touched[agreement_id] = (event.originator_version, _when(event))

    def flush(self, cur: Cursor) -> None:
        """Write the new agreements (unless held), then each agreement's version and time,
        as its batch's last event left them."""
        if self.holding and self._holding_bytes <= self.held_bytes:
            # Held rows whose version and time change below are written first (an event
            # with no handler, a signature say, changes nothing else of them).
            self._write_new(cur, [a for a in self._touched if a in self._new])
            self.revisions.write_unkept(cur, keep=self._new)  # of agreements not new
        else:
            self._write_new(cur)
        if self._touched:
            self.listing.touched(cur, self._touched)
            self._touched = {}

    def _write_new(self, cur: Cursor, agreements: Collection[str] | None = None) -> None:
        """Write the new agreements' rows: of `agreements`, or all."""
        self.listing.write_new(cur, agreements)
        self.revisions.write_new(cur, agreements)
        for agreement_id in list(self._new) if agreements is None else agreements:
            self._holding_bytes -= self._new.pop(agreement_id, 0)

    def write_held(self, cur: Cursor) -> None:
        """Write the rows held in memory."""
        self._write_new(cur)

    def take_held(self) -> dict[str, list[tuple[Any, ...]]]:
        """The held agreements' rows, by table. Taken after a batch's `flush`, when only
        the held agreements' rows are pending: all of them, in one pass (a lookup per
        agreement cost a rebuild ~0.3 s on the bench's log)."""
        taken = {**self.listing.take_new(), "rm_revisions": self.revisions.take_new()}
        self._new = {}
        self._holding_bytes = 0
        return taken

    def forget_pending(self) -> None:
        """The batch rolled back: nothing of it is written (nor anything held)."""
        self._touched = {}
        self._new = {}
        self._holding_bytes = 0
        self.listing.forget_new()
        self.revisions.forget_new()

    def forget_ahead(self, events: Sequence[Any]) -> None:
        """What was kept from events applied ahead: an agreement's `seq` (its proposal's
        position), a revision's content, a recorded delivery."""
        for event in events:
            agreement_id = str(event.originator_id)
            if isinstance(event, Agreement.Proposed):
                self.listing.forget_seq(agreement_id)
                self.revisions.forget(agreement_id, 1)
            elif isinstance(event, Agreement.Revised | Agreement.AmendmentProposed):
                self.revisions.forget(agreement_id, event.revision)
            elif isinstance(event, Agreement.FulfilmentRecorded):
                self.commitments.forget_delivery(agreement_id, event.fulfilment_id)

    # ----------------------------------------------------------------- one per event

    def _proposed(self, cur: Cursor, agreement_id: str, position: int, event: Any) -> None:
        mix = SectorMix.of(event.party_sectors.values()).value
        self.listing.proposed(
            cur,
            agreement_id,
            position,
            event.content,
            mix,
            event.actor.party_id,
            event.originator_version,
            _when(event),
        )
        size = self.revisions.add(cur, agreement_id, 1, event.content, event.party_sectors)
        self.listing.governing(cur, agreement_id, position, (1,), first=True)
        # Its row repeats the title and purpose and their search text: about as much again.
        self._new[agreement_id] = 2 * size
        self._holding_bytes += 2 * size

    def _revised(self, cur: Cursor, agreement_id: str, position: int, event: Any) -> None:
        self.revisions.add(cur, agreement_id, event.revision, event.content, event.party_sectors)
        mix = SectorMix.of(event.party_sectors.values()).value
        self.listing.revised(cur, agreement_id, event.revision, event.content, mix)
        self.listing.governing(cur, agreement_id, position, (event.revision,))

    def _amendment_proposed(
        self, cur: Cursor, agreement_id: str, position: int, event: Any
    ) -> None:
        self.revisions.add(cur, agreement_id, event.revision, event.content, event.party_sectors)
        in_force = self.listing.in_force(cur, agreement_id)
        self.listing.latest_revision(cur, agreement_id, event.revision)
        self.listing.governing(cur, agreement_id, position, (in_force, event.revision))

    def _amendment_rejected(
        self, cur: Cursor, agreement_id: str, position: int, event: Any
    ) -> None:
        in_force = self.listing.in_force(cur, agreement_id)
        self.listing.governing(cur, agreement_id, position, (in_force,))

    def _concluded(self, cur: Cursor, agreement_id: str, position: int, event: Any) -> None:
        month = _when(event)[:7]
        self.listing.concluded(cur, agreement_id, event.revision, month)
        # An agreement is concluded once, and has no commitments before.
        self.commitments.put_in_force(
            cur, agreement_id, position, event.revision, month, first=True
        )

    def _amendment_adopted(self, cur: Cursor, agreement_id: str, position: int, event: Any) -> None:
        month = _when(event)[:7]
        self.commitments.put_in_force(cur, agreement_id, position, event.revision, month)
        self.listing.governing(cur, agreement_id, position, (event.revision,))
        self.listing.amended(cur, agreement_id, event.revision)

    def _status(self, status: str) -> Handler:
        def handle(cur: Cursor, agreement_id: str, position: int, event: Any) -> None:
            self.listing.status(cur, agreement_id, status)

        return handle

    def _fulfilment_recorded(
        self, cur: Cursor, agreement_id: str, position: int, event: Any
    ) -> None:
        self.commitments.recorded(cur, agreement_id, event)

    def _fulfilment_confirmed(
        self, cur: Cursor, agreement_id: str, position: int, event: Any
    ) -> None:
        self.commitments.confirmed(cur, agreement_id, event.fulfilment_id)

    def _fulfilment_disputed(
        self, cur: Cursor, agreement_id: str, position: int, event: Any
    ) -> None:
        self.commitments.disputed(cur, agreement_id, event.fulfilment_id)


def _when(event: Any) -> str:
    return str(event.timestamp.isoformat())
