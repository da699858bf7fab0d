"""The agreements as listed and filtered: one row each, and the parties that govern it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from tris.application.readmodels.agreements.revisions import Revisions
from tris.application.readmodels.agreements.search import search_text
from tris.application.readmodels.base import NewRows, Remembered
from tris.domain.values import Content, Sector, SectorMix
from tris.storage.cursors import Cursor

# Agreements whose `seq` is kept in memory (the most recently used).
REMEMBERED_AGREEMENTS = 50_000

TABLES = (
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
    # The published agreements: those whose revision in force says `publication: public`.
    """CREATE TABLE IF NOT EXISTS rm_published (
            agreement_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL)""",
)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS rm_agreements_seq ON rm_agreements (seq)",
    "CREATE INDEX IF NOT EXISTS rm_agreements_status ON rm_agreements (status, seq)",
    "CREATE INDEX IF NOT EXISTS rm_agreements_mix ON rm_agreements (sector_mix, seq)",
    # The statistics count agreements from this index alone, not from the wide rows.
    "CREATE INDEX IF NOT EXISTS rm_agreements_mix_status ON rm_agreements (sector_mix, status)",
    "CREATE INDEX IF NOT EXISTS rm_agreement_parties_party "
    "ON rm_agreement_parties (party_id, is_current, seq)",
    "CREATE INDEX IF NOT EXISTS rm_agreement_parties_sector "
    "ON rm_agreement_parties (sector, is_current, seq)",
    "CREATE INDEX IF NOT EXISTS rm_published_seq ON rm_published (seq)",
)
# Every column that reaches an answer, rows in the order the answers list them: `seq` (a
# store position) decides the order of lists and pages, so the rows are read in its order
# but its value is left out (positions need not match between two stores that agree).
DIGEST_QUERIES = (
    "SELECT agreement_id, title, purpose, search_text, status, sector_mix, proposer, version, "
    "revision, in_force_revision, created_at, updated_at, concluded_month FROM rm_agreements "
    "ORDER BY seq, agreement_id",
    "SELECT agreement_id, party_id, sector, is_current FROM rm_agreement_parties "
    "ORDER BY seq, agreement_id, party_id",
    "SELECT agreement_id FROM rm_published ORDER BY seq, agreement_id",
)


class Listing:
    """Writes `rm_agreements` and `rm_agreement_parties`."""

    def __init__(self, revisions: Revisions) -> None:
        self.revisions = revisions
        # New agreements' rows and their parties' rows, written together (`write_new`)
        # before anything else reads or changes them in the batch, or at its end.
        self._new_agreements = NewRows()
        self._new_parties = NewRows()
        # Each agreement's `seq` (the position of its proposal) never changes.
        self._seq: Remembered[str, int] = Remembered(REMEMBERED_AGREEMENTS)

    def forget_seq(self, agreement_id: str) -> None:
        """Forget an agreement's remembered `seq` (it is read back when needed)."""
        self._seq.forget(agreement_id)

    def write_new(self, cur: Cursor, agreements: Collection[str] | None = None) -> None:
        """Write the rows of the agreements proposed since they were last written (of
        `agreements`, or all when None)."""
        rows = self._new_agreements.take(agreements)
        if rows:
            cur.executemany(
                "INSERT INTO rm_agreements (agreement_id, seq, title, purpose, search_text, "
                "status, sector_mix, proposer, version, revision, in_force_revision, "
                "created_at, updated_at, concluded_month) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        parties = self._new_parties.take(agreements)
        if parties:
            self._upsert_parties(cur, parties)

    def take_new(self) -> dict[str, list[tuple[Any, ...]]]:
        """All new rows by table, in each table's column order, not to be written here
        (a rebuild's write takes them)."""
        return {
            "rm_agreements": self._new_agreements.take(None),
            "rm_agreement_parties": self._new_parties.take(None),
        }

    def forget_new(self) -> None:
        """The batch rolled back: nothing of it is written."""
        self._new_agreements.clear()
        self._new_parties.clear()

    def proposed(
        self,
        cur: Cursor,
        agreement_id: str,
        position: int,
        content: Content,
        mix: str,
        proposer: str,
        version: int,
        when: str,
    ) -> None:
        """A new agreement, proposed at revision 1 (its row is written by `write_new`)."""
        self._seq.put(agreement_id, position)
        self._new_agreements.add(
            agreement_id,
            (
                agreement_id,
                position,
                content.title,
                content.purpose,
                search_text(content),
                "proposed",
                mix,
                proposer,
                version,
                1,
                None,  # in force: no revision yet
                when,
                when,
                None,  # concluded: not yet
            ),
        )

    def revised(
        self, cur: Cursor, agreement_id: str, number: int, content: Content, mix: str
    ) -> None:
        """A proposal's content replaced by revision `number`."""
        cur.execute(
            "UPDATE rm_agreements SET title=%s, purpose=%s, search_text=%s, "
            "sector_mix=%s, revision=%s WHERE agreement_id=%s",
            (content.title, content.purpose, search_text(content), mix, number, agreement_id),
        )

    def latest_revision(self, cur: Cursor, agreement_id: str, number: int) -> None:
        """An amendment proposed as revision `number`."""
        cur.execute(
            "UPDATE rm_agreements SET revision=%s WHERE agreement_id=%s", (number, agreement_id)
        )

    def concluded(self, cur: Cursor, agreement_id: str, number: int, month: str) -> None:
        """Revision `number` in force from `month` on."""
        cur.execute(
            "UPDATE rm_agreements SET status=%s, in_force_revision=%s, "
            "concluded_month=%s WHERE agreement_id=%s",
            ("in_force", number, month, agreement_id),
        )
        content, _ = self.revisions.get(cur, agreement_id, number)
        self._publication(cur, agreement_id, content)

    def amended(self, cur: Cursor, agreement_id: str, number: int) -> None:
        """Amendment `number` in force: its content is what is listed and searched."""
        cur.execute(
            "UPDATE rm_agreements SET in_force_revision=%s WHERE agreement_id=%s",
            (number, agreement_id),
        )
        content, sectors = self.revisions.get(cur, agreement_id, number)
        cur.execute(
            "UPDATE rm_agreements SET title=%s, purpose=%s, search_text=%s, "
            "sector_mix=%s WHERE agreement_id=%s",
            (
                content.title,
                content.purpose,
                search_text(content),
                SectorMix.of(Sector(s) for s in sectors.values()).value,
                agreement_id,
            ),
        )
        self._publication(cur, agreement_id, content)

    def _publication(self, cur: Cursor, agreement_id: str, in_force: Content) -> None:
        """Listed as published exactly while the content in force says `public`."""
        if in_force.public:
            cur.execute(
                "INSERT INTO rm_published (agreement_id, seq) SELECT agreement_id, seq "
                "FROM rm_agreements WHERE agreement_id=%s ON CONFLICT (agreement_id) DO NOTHING",
                (agreement_id,),
            )
        else:
            cur.execute("DELETE FROM rm_published WHERE agreement_id=%s", (agreement_id,))

    def in_force(self, cur: Cursor, agreement_id: str) -> int:
        """The number of the revision in force."""
        cur.execute(
            "SELECT in_force_revision FROM rm_agreements WHERE agreement_id=%s", (agreement_id,)
        )
        return int(cur.fetchone()[0])

    def status(self, cur: Cursor, agreement_id: str, status: str) -> None:
        """The agreement's lifecycle status."""
        cur.execute(
            "UPDATE rm_agreements SET status=%s WHERE agreement_id=%s", (status, agreement_id)
        )

    def touched(self, cur: Cursor, changed: dict[str, tuple[int, str]]) -> None:
        """Each agreement's version and when it last changed (one statement per batch)."""
        cur.executemany(
            "UPDATE rm_agreements SET version=%s, updated_at=%s WHERE agreement_id=%s",
            [(version, when, agreement_id) for agreement_id, (version, when) in changed.items()],
        )

    def governing(
        self,
        cur: Cursor,
        agreement_id: str,
        position: int,
        current: Iterable[int],
        *,
        first: bool = False,
    ) -> None:
        """Every party of any revision stays listed; `is_current` marks the governing ones.

        `first`: the agreement was just proposed at `position` (no party rows yet, and
        its `seq` is that position); its rows are written by `write_new`."""
        seq = position
        if not first:
            cur.execute(
                "UPDATE rm_agreement_parties SET is_current=%s WHERE agreement_id=%s",
                (False, agreement_id),
            )
            seq = self.seq(cur, agreement_id, position)
        rows = []
        for number in current:
            content, sectors = self.revisions.get(cur, agreement_id, number)
            # Each party once (as the upsert would leave it): a held agreement's rows
            # are copied as they are.
            rows += [
                (agreement_id, party_id, sectors[party_id], True, seq)
                for party_id in dict.fromkeys(content.parties)
            ]
        if first:
            for row in rows:
                self._new_parties.add(agreement_id, row)
        else:
            self._upsert_parties(cur, rows)

    def seq(self, cur: Cursor, agreement_id: str, default: int) -> int:
        """An agreement's `seq`: remembered, else read (`default` when it has no row)."""
        seq = self._seq.get(agreement_id)
        if seq is None:
            cur.execute("SELECT seq FROM rm_agreements WHERE agreement_id=%s", (agreement_id,))
            row = cur.fetchone()
            if row is None:
                return default
            seq = int(row[0])
            self._seq.put(agreement_id, seq)
        return seq

    @staticmethod
    def _upsert_parties(cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(
            "INSERT INTO rm_agreement_parties (agreement_id, party_id, sector, "
            "is_current, seq) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (agreement_id, party_id) DO UPDATE SET "
            "is_current=excluded.is_current, sector=excluded.sector",
            rows,
        )
