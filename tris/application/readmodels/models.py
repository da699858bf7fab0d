"""The read models: parties, agreements (with their parties), commitments and totals.

Quantities stay decimal strings in every table and are summed with `Decimal` in Python,
never as SQL floats. No personal data (contact persons) enters any read model.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tris.application.readmodels.runner import Projection
from tris.domain.agreement import Agreement
from tris.domain.party import Party
from tris.domain.values import Content, Sector, SectorMix
from tris.storage.cursors import Cursor

# Revisions a projection keeps parsed (the most recently used), so that conclusions and
# amendments need not read and parse them again.
REMEMBERED_REVISIONS = 10_000


# The agreements' text search index (ADR 13): a GIN trigram index on PostgreSQL, an FTS5
# table with the trigram tokenizer on SQLite, which the query names.
SEARCH_INDEX = "rm_agreements_search"

# pg_trgm ships with PostgreSQL and is trusted (PostgreSQL 13+): whoever may create objects
# in the database may create it, and an extension that exists already needs no privilege.
# The runner creates the schema under an advisory lock, so processes starting together do
# not race on it. Without it TRIS refuses to start rather than search by a full scan.
REQUIRE_PG_TRGM = """DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN undefined_file OR insufficient_privilege THEN
    RAISE EXCEPTION USING
        ERRCODE = SQLSTATE,
        MESSAGE = 'TRIS needs the PostgreSQL extension pg_trgm (the agreements'' text '
            || 'search index): ' || SQLERRM,
        HINT = 'pg_trgm ships with PostgreSQL (in the contrib package on some systems); '
            || 'have a superuser run CREATE EXTENSION pg_trgm in this database, then start '
            || 'TRIS again.';
END
$$"""

SEARCH_INDEX_POSTGRES = (
    "CREATE INDEX IF NOT EXISTS rm_agreements_search ON rm_agreements "
    "USING gin (search_text gin_trgm_ops)"
)

# Which agreements hold a trigram, not where (detail=none): a quarter of the size, and
# enough to find the candidates that the query then checks with LIKE. The text itself
# stays in rm_agreements (external content); the rowid is the agreement's `seq`.
SEARCH_TABLE_SQLITE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS rm_agreements_search USING fts5(search_text, "
    "content='rm_agreements', content_rowid='seq', tokenize='trigram', detail='none')"
)

# Kept in step with every write to rm_agreements, in its transaction: events applied, a
# reset, a rebuild's stage written back. An external-content table is told a row's old
# values to remove it.
_SEARCH_ADD = (
    "INSERT INTO rm_agreements_search (rowid, search_text) VALUES (new.seq, new.search_text);"
)
_SEARCH_REMOVE = (
    "INSERT INTO rm_agreements_search (rm_agreements_search, rowid, search_text) "
    "VALUES ('delete', old.seq, old.search_text);"
)
SEARCH_TRIGGERS_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_insert AFTER INSERT ON rm_agreements "
    f"BEGIN {_SEARCH_ADD} END",
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_delete AFTER DELETE ON rm_agreements "
    f"BEGIN {_SEARCH_REMOVE} END",
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_update "
    "AFTER UPDATE OF seq, search_text ON rm_agreements "
    "WHEN old.seq IS NOT new.seq OR old.search_text IS NOT new.search_text "
    f"BEGIN {_SEARCH_REMOVE} {_SEARCH_ADD} END",
)

# A store that had agreements before the table existed (or out of step with it) gets it
# filled from rm_agreements at start; otherwise this only counts.
SEARCH_FILL_SQLITE = (
    "INSERT INTO rm_agreements_search (rm_agreements_search) SELECT 'rebuild' "
    "WHERE (SELECT COUNT(*) FROM rm_agreements_search_docsize) "
    "<> (SELECT COUNT(*) FROM rm_agreements)"
)


class PartiesProjection(Projection):
    """Parties' public details, for listing and for the region filter."""

    name = "parties"
    schema_version = 1
    tables = (
        """CREATE TABLE IF NOT EXISTS rm_parties (
            party_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            name TEXT NOT NULL,
            sector TEXT NOT NULL,
            region TEXT,
            active BOOLEAN NOT NULL,
            created_at TEXT NOT NULL)""",
    )
    indexes = (
        "CREATE INDEX IF NOT EXISTS rm_parties_seq ON rm_parties (seq)",
        "CREATE INDEX IF NOT EXISTS rm_parties_region ON rm_parties (region)",
    )
    digest_queries = (
        "SELECT party_id, name, sector, region, active, created_at FROM rm_parties "
        "ORDER BY party_id",
    )

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply a Party event; other events are ignored."""
        party_id = str(event.originator_id)
        match event:
            case Party.Registered():
                details = event.details
                cur.execute(
                    "INSERT INTO rm_parties (party_id, seq, name, sector, region, active, "
                    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        party_id,
                        position,
                        details.name,
                        details.sector.value,
                        details.region,
                        True,
                        event.timestamp.isoformat(),
                    ),
                )
            case Party.DetailsUpdated():
                details = event.details
                cur.execute(
                    "UPDATE rm_parties SET name=%s, sector=%s, region=%s WHERE party_id=%s",
                    (details.name, details.sector.value, details.region, party_id),
                )
            case Party.Deactivated():
                cur.execute("UPDATE rm_parties SET active=%s WHERE party_id=%s", (False, party_id))


class AgreementsProjection(Projection):
    """Agreements for search and lists, their commitments, and the sector's totals."""

    name = "agreements"
    schema_version = 1

    def __init__(self) -> None:
        self._revisions: OrderedDict[tuple[str, int], tuple[Content, dict[str, str]]] = (
            OrderedDict()
        )

    tables = (
        """CREATE TABLE IF NOT EXISTS rm_agreements (
            agreement_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            title TEXT NOT NULL,
            purpose TEXT NOT NULL,
            search_text TEXT NOT NULL,
            status TEXT NOT NULL,
            sector_mix TEXT NOT NULL,
            proposer TEXT NOT NULL,
            version INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            in_force_revision INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            concluded_month TEXT)""",
        """CREATE TABLE IF NOT EXISTS rm_agreement_parties (
            agreement_id TEXT NOT NULL,
            party_id TEXT NOT NULL,
            sector TEXT NOT NULL,
            is_current BOOLEAN NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (agreement_id, party_id))""",
        """CREATE TABLE IF NOT EXISTS rm_revisions (
            agreement_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            content TEXT NOT NULL,
            sectors TEXT NOT NULL,
            PRIMARY KEY (agreement_id, number))""",
        """CREATE TABLE IF NOT EXISTS rm_commitments (
            agreement_id TEXT NOT NULL,
            commitment_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            debtor TEXT NOT NULL,
            beneficiary TEXT,
            kind TEXT NOT NULL,
            quantity TEXT NOT NULL,
            unit TEXT NOT NULL,
            description TEXT NOT NULL,
            due_on TEXT,
            confirmed TEXT NOT NULL,
            fulfilled BOOLEAN NOT NULL,
            started BOOLEAN NOT NULL,
            committed_month TEXT NOT NULL,
            PRIMARY KEY (agreement_id, commitment_id))""",
        """CREATE TABLE IF NOT EXISTS rm_fulfilments (
            agreement_id TEXT NOT NULL,
            fulfilment_id TEXT NOT NULL,
            commitment_id TEXT NOT NULL,
            quantity TEXT NOT NULL,
            delivered_on TEXT NOT NULL,
            status TEXT NOT NULL,
            PRIMARY KEY (agreement_id, fulfilment_id))""",
        """CREATE TABLE IF NOT EXISTS rm_commitment_totals (
            kind TEXT NOT NULL,
            unit TEXT NOT NULL,
            month TEXT NOT NULL,
            committed TEXT NOT NULL,
            fulfilled TEXT NOT NULL,
            PRIMARY KEY (kind, unit, month))""",
    )
    indexes = (
        "CREATE INDEX IF NOT EXISTS rm_agreements_seq ON rm_agreements (seq)",
        "CREATE INDEX IF NOT EXISTS rm_agreements_status ON rm_agreements (status, seq)",
        "CREATE INDEX IF NOT EXISTS rm_agreements_mix ON rm_agreements (sector_mix, seq)",
        # The statistics count agreements from this index alone, not from the wide rows.
        "CREATE INDEX IF NOT EXISTS rm_agreements_mix_status ON rm_agreements (sector_mix, status)",
        "CREATE INDEX IF NOT EXISTS rm_agreement_parties_party "
        "ON rm_agreement_parties (party_id, is_current, seq)",
        "CREATE INDEX IF NOT EXISTS rm_agreement_parties_sector "
        "ON rm_agreement_parties (sector, is_current, seq)",
        "CREATE INDEX IF NOT EXISTS rm_commitments_debtor ON rm_commitments (debtor, seq)",
        "CREATE INDEX IF NOT EXISTS rm_commitments_beneficiary "
        "ON rm_commitments (beneficiary, seq)",
    )
    # The `q` search (`search_text LIKE '%term%'`) through a trigram index on each backend
    # (ADR 13). Neither holds anything the digest or a rebuild must copy: PostgreSQL keeps
    # its index itself; on SQLite, triggers keep the full-text table in step.
    backend_indexes = {
        "postgres": (REQUIRE_PG_TRGM, SEARCH_INDEX_POSTGRES),
        "sqlite": (SEARCH_TABLE_SQLITE, *SEARCH_TRIGGERS_SQLITE, SEARCH_FILL_SQLITE),
    }
    digest_queries = (
        "SELECT agreement_id, title, purpose, status, sector_mix, proposer, version, revision, "
        "in_force_revision, created_at, updated_at, concluded_month FROM rm_agreements "
        "ORDER BY agreement_id",
        "SELECT agreement_id, party_id, sector, is_current FROM rm_agreement_parties "
        "ORDER BY agreement_id, party_id",
        "SELECT agreement_id, commitment_id, debtor, beneficiary, kind, quantity, unit, "
        "description, due_on, confirmed, fulfilled, started, committed_month "
        "FROM rm_commitments ORDER BY agreement_id, commitment_id",
        "SELECT agreement_id, fulfilment_id, commitment_id, quantity, delivered_on, status "
        "FROM rm_fulfilments ORDER BY agreement_id, fulfilment_id",
        "SELECT kind, unit, month, committed, fulfilled FROM rm_commitment_totals "
        "ORDER BY kind, unit, month",
    )

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply an Agreement event; other events are ignored."""
        if not type(event).__qualname__.startswith("Agreement."):
            return
        agreement_id = str(event.originator_id)
        when = event.timestamp.isoformat()
        match event:
            case Agreement.Proposed():
                content = event.content
                mix = SectorMix.of(event.party_sectors.values()).value
                cur.execute(
                    "INSERT INTO rm_agreements (agreement_id, seq, title, purpose, search_text, "
                    "status, sector_mix, proposer, version, revision, in_force_revision, "
                    "created_at, updated_at, concluded_month) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, NULL)",
                    (
                        agreement_id,
                        position,
                        content.title,
                        content.purpose,
                        _search_text(content),
                        "proposed",
                        mix,
                        event.actor.party_id,
                        event.originator_version,
                        1,
                        when,
                        when,
                    ),
                )
                self._add_revision(cur, agreement_id, 1, content, event.party_sectors)
                self._set_parties(cur, agreement_id, position, (1,))
                return
            case Agreement.Revised():
                self._add_revision(
                    cur, agreement_id, event.revision, event.content, event.party_sectors
                )
                cur.execute(
                    "UPDATE rm_agreements SET title=%s, purpose=%s, search_text=%s, "
                    "sector_mix=%s, revision=%s WHERE agreement_id=%s",
                    (
                        event.content.title,
                        event.content.purpose,
                        _search_text(event.content),
                        SectorMix.of(event.party_sectors.values()).value,
                        event.revision,
                        agreement_id,
                    ),
                )
                self._set_parties(cur, agreement_id, position, (event.revision,))
            case Agreement.AmendmentProposed():
                self._add_revision(
                    cur, agreement_id, event.revision, event.content, event.party_sectors
                )
                in_force = self._in_force(cur, agreement_id)
                cur.execute(
                    "UPDATE rm_agreements SET revision=%s WHERE agreement_id=%s",
                    (event.revision, agreement_id),
                )
                self._set_parties(cur, agreement_id, position, (in_force, event.revision))
            case Agreement.AmendmentRejected():
                in_force = self._in_force(cur, agreement_id)
                self._set_parties(cur, agreement_id, position, (in_force,))
            case Agreement.Concluded():
                month = when[:7]
                cur.execute(
                    "UPDATE rm_agreements SET status=%s, in_force_revision=%s, "
                    "concluded_month=%s WHERE agreement_id=%s",
                    ("in_force", event.revision, month, agreement_id),
                )
                self._put_in_force(cur, agreement_id, position, event.revision, month)
            case Agreement.AmendmentAdopted():
                cur.execute(
                    "UPDATE rm_agreements SET in_force_revision=%s WHERE agreement_id=%s",
                    (event.revision, agreement_id),
                )
                self._put_in_force(cur, agreement_id, position, event.revision, when[:7])
                self._set_parties(cur, agreement_id, position, (event.revision,))
                content, sectors = self._revision(cur, agreement_id, event.revision)
                cur.execute(
                    "UPDATE rm_agreements SET title=%s, purpose=%s, search_text=%s, "
                    "sector_mix=%s WHERE agreement_id=%s",
                    (
                        content.title,
                        content.purpose,
                        _search_text(content),
                        SectorMix.of(Sector(s) for s in sectors.values()).value,
                        agreement_id,
                    ),
                )
            case Agreement.Withdrawn():
                self._set_status(cur, agreement_id, "withdrawn")
            case Agreement.Completed():
                self._set_status(cur, agreement_id, "completed")
            case Agreement.Terminated():
                self._set_status(cur, agreement_id, "terminated")
            case Agreement.FulfilmentRecorded():
                cur.execute(
                    "INSERT INTO rm_fulfilments (agreement_id, fulfilment_id, commitment_id, "
                    "quantity, delivered_on, status) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        agreement_id,
                        event.fulfilment_id,
                        event.commitment_id,
                        str(event.quantity),
                        event.delivered_on.isoformat(),
                        "recorded",
                    ),
                )
            case Agreement.FulfilmentConfirmed():
                self._confirm(cur, agreement_id, event.fulfilment_id)
            case Agreement.FulfilmentDisputed():
                cur.execute(
                    "UPDATE rm_fulfilments SET status=%s WHERE agreement_id=%s "
                    "AND fulfilment_id=%s",
                    ("disputed", agreement_id, event.fulfilment_id),
                )
        cur.execute(
            "UPDATE rm_agreements SET version=%s, updated_at=%s WHERE agreement_id=%s",
            (event.originator_version, when, agreement_id),
        )

    # ----------------------------------------------------------------- helpers

    def _add_revision(
        self,
        cur: Cursor,
        agreement_id: str,
        number: int,
        content: Content,
        sectors: Any,
    ) -> None:
        self._remember(agreement_id, number, content, {p: s.value for p, s in sectors.items()})
        cur.execute(
            "INSERT INTO rm_revisions (agreement_id, number, content, sectors) "
            "VALUES (%s, %s, %s, %s)",
            (
                agreement_id,
                number,
                json.dumps(content.to_dict(), sort_keys=True),
                json.dumps({p: s.value for p, s in sectors.items()}, sort_keys=True),
            ),
        )

    def _revision(
        self, cur: Cursor, agreement_id: str, number: int
    ) -> tuple[Content, dict[str, str]]:
        """A revision's content and sectors: remembered, else read from `rm_revisions`.

        A revision never changes once proposed (its event is immutable), so remembering it
        is safe across transactions, rolled back ones included, and across processes.
        """
        remembered = self._revisions.get((agreement_id, number))
        if remembered is not None:
            self._revisions.move_to_end((agreement_id, number))
            return remembered
        cur.execute(
            "SELECT content, sectors FROM rm_revisions WHERE agreement_id=%s AND number=%s",
            (agreement_id, number),
        )
        row = cur.fetchone()
        content, sectors = Content.from_dict(json.loads(row[0])), json.loads(row[1])
        self._remember(agreement_id, number, content, sectors)
        return content, sectors

    def _remember(
        self, agreement_id: str, number: int, content: Content, sectors: dict[str, str]
    ) -> None:
        self._revisions[(agreement_id, number)] = (content, sectors)
        if len(self._revisions) > REMEMBERED_REVISIONS:
            self._revisions.popitem(last=False)

    def _in_force(self, cur: Cursor, agreement_id: str) -> int:
        cur.execute(
            "SELECT in_force_revision FROM rm_agreements WHERE agreement_id=%s", (agreement_id,)
        )
        return int(cur.fetchone()[0])

    def _set_status(self, cur: Cursor, agreement_id: str, status: str) -> None:
        cur.execute(
            "UPDATE rm_agreements SET status=%s WHERE agreement_id=%s", (status, agreement_id)
        )

    def _set_parties(
        self, cur: Cursor, agreement_id: str, position: int, current: Iterable[int]
    ) -> None:
        """Every party of any revision stays listed; `is_current` marks the governing ones."""
        cur.execute(
            "UPDATE rm_agreement_parties SET is_current=%s WHERE agreement_id=%s",
            (False, agreement_id),
        )
        cur.execute("SELECT seq FROM rm_agreements WHERE agreement_id=%s", (agreement_id,))
        row = cur.fetchone()
        seq = int(row[0]) if row else position
        for number in current:
            content, sectors = self._revision(cur, agreement_id, number)
            for party_id in content.parties:
                cur.execute(
                    "INSERT INTO rm_agreement_parties (agreement_id, party_id, sector, "
                    "is_current, seq) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (agreement_id, party_id) DO UPDATE SET is_current=%s, "
                    "sector=%s",
                    (agreement_id, party_id, sectors[party_id], True, seq, True, sectors[party_id]),
                )

    def _put_in_force(
        self, cur: Cursor, agreement_id: str, position: int, number: int, month: str
    ) -> None:
        """Replace the commitments by those of revision `number`, keeping confirmed amounts."""
        content, _ = self._revision(cur, agreement_id, number)
        cur.execute(
            "SELECT commitment_id, kind, unit, quantity, committed_month, confirmed, seq "
            "FROM rm_commitments WHERE agreement_id=%s",
            (agreement_id,),
        )
        old = {row[0]: row for row in cur.fetchall()}
        for row in old.values():
            self._add_total(cur, row[1], row[2], row[4], committed=-Decimal(row[3]))
        cur.execute("DELETE FROM rm_commitments WHERE agreement_id=%s", (agreement_id,))
        for commitment in content.commitments:
            previous = old.get(commitment.id)
            committed_month = previous[4] if previous else month
            confirmed = Decimal(previous[5]) if previous else Decimal(0)
            seq = int(previous[6]) if previous else position
            cur.execute(
                "INSERT INTO rm_commitments (agreement_id, commitment_id, seq, debtor, "
                "beneficiary, kind, quantity, unit, description, due_on, confirmed, fulfilled, "
                "started, committed_month) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    agreement_id,
                    commitment.id,
                    seq,
                    commitment.debtor,
                    commitment.beneficiary,
                    commitment.kind.value,
                    str(commitment.quantity),
                    commitment.unit,
                    commitment.description,
                    commitment.due_on.isoformat() if commitment.due_on else None,
                    str(confirmed),
                    confirmed >= commitment.quantity,
                    confirmed > 0,
                    committed_month,
                ),
            )
            self._add_total(
                cur,
                commitment.kind.value,
                commitment.unit,
                committed_month,
                committed=commitment.quantity,
            )

    def _confirm(self, cur: Cursor, agreement_id: str, fulfilment_id: str) -> None:
        cur.execute(
            "SELECT commitment_id, quantity, delivered_on FROM rm_fulfilments "
            "WHERE agreement_id=%s AND fulfilment_id=%s",
            (agreement_id, fulfilment_id),
        )
        commitment_id, quantity_text, delivered_on = cur.fetchone()
        quantity = Decimal(quantity_text)
        cur.execute(
            "UPDATE rm_fulfilments SET status=%s WHERE agreement_id=%s AND fulfilment_id=%s",
            ("confirmed", agreement_id, fulfilment_id),
        )
        cur.execute(
            "SELECT quantity, confirmed, kind, unit FROM rm_commitments "
            "WHERE agreement_id=%s AND commitment_id=%s",
            (agreement_id, commitment_id),
        )
        row = cur.fetchone()
        if row is None:
            return
        confirmed = Decimal(row[1]) + quantity
        cur.execute(
            "UPDATE rm_commitments SET confirmed=%s, fulfilled=%s, started=%s "
            "WHERE agreement_id=%s AND commitment_id=%s",
            (str(confirmed), confirmed >= Decimal(row[0]), True, agreement_id, commitment_id),
        )
        self._add_total(cur, row[2], row[3], str(delivered_on)[:7], fulfilled=quantity)

    def _add_total(
        self,
        cur: Cursor,
        kind: str,
        unit: str,
        month: str,
        *,
        committed: Decimal = Decimal(0),
        fulfilled: Decimal = Decimal(0),
    ) -> None:
        cur.execute(
            "SELECT committed, fulfilled FROM rm_commitment_totals "
            "WHERE kind=%s AND unit=%s AND month=%s",
            (kind, unit, month),
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO rm_commitment_totals (kind, unit, month, committed, fulfilled) "
                "VALUES (%s, %s, %s, %s, %s)",
                (kind, unit, month, str(committed), str(fulfilled)),
            )
            return
        cur.execute(
            "UPDATE rm_commitment_totals SET committed=%s, fulfilled=%s "
            "WHERE kind=%s AND unit=%s AND month=%s",
            (
                str(Decimal(row[0]) + committed),
                str(Decimal(row[1]) + fulfilled),
                kind,
                unit,
                month,
            ),
        )


def _search_text(content: Content) -> str:
    return f"{content.title}\n{content.purpose}".casefold()


def default_projections() -> list[Projection]:
    """Every read model TRIS keeps."""
    return [PartiesProjection(), AgreementsProjection()]
