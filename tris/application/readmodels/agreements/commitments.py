"""Commitments of the revision in force, their fulfilments, and the totals by kind and unit.

Quantities stay decimal strings in every table and are never summed as SQL floats: with
`Decimal` in Python after reading the stored value back, or, where the database adds
decimals exactly (PostgreSQL's `numeric`, `Cursor.exact_sums`), in the statement that
writes the sum — no read in between, so a batch's statements can go out without waiting
for answers (ADR 35). Both give the same text for TRIS's quantities (plain decimals of at
most 16 integer digits and 6 places: added, `Decimal` and `numeric` keep the larger
scale and write no exponent); the read models' digest against a rebuild, which adds in
Python, checks it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tris.application.readmodels.agreements.revisions import Revisions
from tris.application.readmodels.base import Remembered
from tris.domain.agreement import Agreement
from tris.storage.cursors import Cursor

# Recorded deliveries kept in memory until confirmed (the most recently used).
REMEMBERED_DELIVERIES = 20_000

TABLES = (
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
INDEXES = (
    "CREATE INDEX IF NOT EXISTS rm_commitments_debtor ON rm_commitments (debtor, seq)",
    "CREATE INDEX IF NOT EXISTS rm_commitments_beneficiary ON rm_commitments (beneficiary, seq)",
)
DIGEST_QUERIES = (
    "SELECT agreement_id, commitment_id, debtor, beneficiary, kind, quantity, unit, "
    "description, due_on, confirmed, fulfilled, started, committed_month "
    "FROM rm_commitments ORDER BY seq, agreement_id, commitment_id",
    "SELECT agreement_id, fulfilment_id, commitment_id, quantity, delivered_on, status "
    "FROM rm_fulfilments ORDER BY agreement_id, fulfilment_id",
    "SELECT kind, unit, month, committed, fulfilled FROM rm_commitment_totals "
    "ORDER BY kind, unit, month",
)


class Commitments:
    """Writes `rm_commitments`, `rm_fulfilments` and `rm_commitment_totals`."""

    def __init__(self, revisions: Revisions) -> None:
        self.revisions = revisions
        # A recorded delivery's commitment, quantity and date never change.
        self._deliveries: Remembered[tuple[str, str], tuple[str, str, str]] = Remembered(
            REMEMBERED_DELIVERIES
        )

    def put_in_force(
        self,
        cur: Cursor,
        agreement_id: str,
        position: int,
        number: int,
        month: str,
        *,
        first: bool = False,
    ) -> None:
        """Replace the commitments by those of revision `number`, keeping confirmed amounts.

        `first`: the agreement's conclusion, before which it has no commitments (nothing
        to read back or remove)."""
        content, _ = self.revisions.get(cur, agreement_id, number)
        old: dict[str, Any] = {}
        if not first:
            cur.execute(
                "SELECT commitment_id, kind, unit, quantity, committed_month, confirmed, seq "
                "FROM rm_commitments WHERE agreement_id=%s",
                (agreement_id,),
            )
            old = {row[0]: row for row in cur.fetchall()}
            for row in old.values():
                _add_total(cur, row[1], row[2], row[4], committed=-Decimal(row[3]))
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
            _add_total(
                cur,
                commitment.kind.value,
                commitment.unit,
                committed_month,
                committed=commitment.quantity,
            )

    def recorded(self, cur: Cursor, agreement_id: str, event: Agreement.FulfilmentRecorded) -> None:
        """A delivery recorded by the debtor, not yet confirmed."""
        delivery = (event.commitment_id, str(event.quantity), event.delivered_on.isoformat())
        self._deliveries.put((agreement_id, event.fulfilment_id), delivery)
        cur.execute(
            "INSERT INTO rm_fulfilments (agreement_id, fulfilment_id, commitment_id, "
            "quantity, delivered_on, status) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                agreement_id,
                event.fulfilment_id,
                *delivery,
                "recorded",
            ),
        )

    def forget_delivery(self, agreement_id: str, fulfilment_id: str) -> None:
        """Forget a remembered delivery (it is read back when needed)."""
        self._deliveries.forget((agreement_id, fulfilment_id))

    def confirmed(self, cur: Cursor, agreement_id: str, fulfilment_id: str) -> None:
        """A delivery confirmed: it counts towards its commitment and the month's totals."""
        delivery = self._deliveries.get((agreement_id, fulfilment_id))
        if delivery is None:
            cur.execute(
                "SELECT commitment_id, quantity, delivered_on FROM rm_fulfilments "
                "WHERE agreement_id=%s AND fulfilment_id=%s",
                (agreement_id, fulfilment_id),
            )
            delivery = cur.fetchone()
        commitment_id, quantity_text, delivered_on = delivery
        quantity = Decimal(quantity_text)
        cur.execute(
            "UPDATE rm_fulfilments SET status=%s WHERE agreement_id=%s AND fulfilment_id=%s",
            ("confirmed", agreement_id, fulfilment_id),
        )
        if cur.exact_sums:
            # The commitment's confirmed quantity and the month's total, added in SQL.
            cur.execute(
                _CONFIRM_EXACTLY,
                (
                    quantity_text,
                    quantity_text,
                    agreement_id,
                    commitment_id,
                    str(delivered_on)[:7],
                    str(quantity),
                ),
            )
            return
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
        _add_total(cur, row[2], row[3], str(delivered_on)[:7], fulfilled=quantity)

    def disputed(self, cur: Cursor, agreement_id: str, fulfilment_id: str) -> None:
        """A delivery disputed: it does not count."""
        cur.execute(
            "UPDATE rm_fulfilments SET status=%s WHERE agreement_id=%s AND fulfilment_id=%s",
            ("disputed", agreement_id, fulfilment_id),
        )


# Where the database adds exactly (`Cursor.exact_sums`): a month's totals added to, and a
# confirmed delivery added to its commitment and to its month's fulfilled total (nothing
# when the commitment is not in force any more, as in Python).
_ADD_TOTAL_EXACTLY = (
    "INSERT INTO rm_commitment_totals (kind, unit, month, committed, fulfilled) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, unit, month) DO UPDATE SET "
    "committed = (rm_commitment_totals.committed::numeric "
    "+ EXCLUDED.committed::numeric)::text, "
    "fulfilled = (rm_commitment_totals.fulfilled::numeric "
    "+ EXCLUDED.fulfilled::numeric)::text"
)
_CONFIRM_EXACTLY = (
    "WITH c AS (UPDATE rm_commitments SET "
    "confirmed = (confirmed::numeric + %s::numeric)::text, "
    "fulfilled = confirmed::numeric + %s::numeric >= quantity::numeric, "
    "started = true "
    "WHERE agreement_id = %s AND commitment_id = %s RETURNING kind, unit) "
    "INSERT INTO rm_commitment_totals (kind, unit, month, committed, fulfilled) "
    "SELECT kind, unit, %s, '0', %s FROM c "
    "ON CONFLICT (kind, unit, month) DO UPDATE SET "
    "fulfilled = (rm_commitment_totals.fulfilled::numeric "
    "+ EXCLUDED.fulfilled::numeric)::text"
)


def _add_total(
    cur: Cursor,
    kind: str,
    unit: str,
    month: str,
    *,
    committed: Decimal = Decimal(0),
    fulfilled: Decimal = Decimal(0),
) -> None:
    if cur.exact_sums:
        cur.execute(_ADD_TOTAL_EXACTLY, (kind, unit, month, str(committed), str(fulfilled)))
        return
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
