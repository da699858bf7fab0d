"""A party's commitments, owed and received, with their status as of today."""

from __future__ import annotations

from typing import Any

from tris.application.access import Principal
from tris.application.readmodels.queries.paging import (
    ReadModelQueries,
    check_limit,
)
from tris.domain.errors import InvalidInputError, PartyNotFoundError
from tris.domain.values import CommitmentStatus


class CommitmentQueries(ReadModelQueries):
    """Pages of one party's commitments."""

    def party_commitments(
        self,
        viewer: Principal,
        party_id: str,
        *,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Commitments a party owes or receives under agreements in force or past."""
        check_limit(limit)
        if not (viewer.sees_everything or viewer.party_id == party_id):
            raise PartyNotFoundError(f"no commitments of party {party_id} visible to this token")
        today = self.today().isoformat()
        where = ["(c.debtor = %s OR c.beneficiary = %s)"]
        params: list[Any] = [party_id, party_id]
        not_overdue = "(c.due_on IS NULL OR c.due_on >= %s)"
        match status:
            case None:
                pass
            case "fulfilled":
                where.append("c.fulfilled = %s")
                params.append(True)
            case "overdue":
                where.append("c.fulfilled = %s AND c.due_on IS NOT NULL AND c.due_on < %s")
                params += [False, today]
            case "partially_fulfilled":
                where.append(f"c.fulfilled = %s AND c.started = %s AND {not_overdue}")
                params += [False, True, today]
            case "open":
                where.append(f"c.fulfilled = %s AND c.started = %s AND {not_overdue}")
                params += [False, False, today]
            case _:
                values = ", ".join(s.value for s in CommitmentStatus)
                raise InvalidInputError(f"status must be one of {values}")
        if cursor is not None:
            seq, commitment_id = self.cursors.decode(cursor, int, str)
            where.append("(c.seq < %s OR (c.seq = %s AND c.commitment_id < %s))")
            params += [int(seq), int(seq), str(commitment_id)]
        params.append(limit + 1)
        sql = (
            "SELECT c.agreement_id, c.commitment_id, c.seq, c.debtor, c.beneficiary, c.kind, "  # noqa: S608
            "c.quantity, c.unit, c.description, c.due_on, c.confirmed, c.fulfilled, c.started, "
            "a.status, a.title FROM rm_commitments c "
            "JOIN rm_agreements a ON a.agreement_id = c.agreement_id "
            "WHERE " + " AND ".join(where) + " ORDER BY c.seq DESC, c.commitment_id DESC LIMIT %s"
        )
        with self.database.read() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        page, more = rows[:limit], len(rows) > limit
        items = [
            {
                "agreement_id": r[0],
                "agreement_title": r[14],
                "agreement_status": r[13],
                "id": r[1],
                "direction": "owed" if r[3] == party_id else "received",
                "debtor": r[3],
                "beneficiary": r[4],
                "kind": r[5],
                "quantity": r[6],
                "unit": r[7],
                "description": r[8],
                "due_on": r[9],
                "confirmed_quantity": r[10],
                "status": _commitment_status(bool(r[11]), bool(r[12]), r[9], today),
            }
            for r in page
        ]
        next_cursor = (
            self.cursors.encode(int(page[-1][2]), str(page[-1][1])) if more and page else None
        )
        return {"items": items, "next_cursor": next_cursor}


def _commitment_status(fulfilled: bool, started: bool, due_on: str | None, today: str) -> str:
    """The same rule as the domain's `Agreement.commitment_status`, on read-model columns."""
    if fulfilled:
        return CommitmentStatus.FULFILLED.value
    if due_on is not None and due_on < today:
        return CommitmentStatus.OVERDUE.value
    if started:
        return CommitmentStatus.PARTIALLY_FULFILLED.value
    return CommitmentStatus.OPEN.value
