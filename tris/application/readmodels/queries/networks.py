"""Networks: a network's memberships, its members and a party's networks on a day, as known
now or at a recorded moment, directly or through member networks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tris.application.readmodels.memberships import IN_GRAPH, recorded_moment
from tris.application.readmodels.queries.paging import ReadModelQueries, check_limit
from tris.domain.errors import InvalidInputError
from tris.domain.networks.cycles import Edge

# Chains of networks longer than this are not followed (a safeguard: the graph has no
# circle on any day, so every chain ends long before).
MAX_DEPTH = 32
MEMBERSHIP_COLUMNS = (
    "membership_id, seq, network_id, member_id, role, valid_from, valid_to, basis, status, "
    "requested_by, version"
)
# The listing's columns: a membership and, once it ended, why.
LISTED_COLUMNS = (
    "m.membership_id, m.seq, m.network_id, m.member_id, m.role, m.valid_from, m.valid_to, "
    "m.basis, m.status, m.requested_by, m.version, e.end_reason"
)
STATUSES = ("pending", "active", "rejected", "ended")


@dataclass(frozen=True)
class MembershipQuestion:
    """Who belonged on `as_of` (effective time), as TRIS knew it at `recorded_as_of`
    (recorded time; None: now), directly or `transitive`ly."""

    as_of: date
    recorded_as_of: datetime | None = None
    transitive: bool = False


class NetworkQueries(ReadModelQueries):
    """Memberships, members and networks."""

    def memberships(
        self,
        network_id: str,
        *,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """A page of the network's memberships, in the order they were asked for."""
        check_limit(limit)
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
        where, params = ["m.network_id = %s"], [network_id]
        if status is not None:
            where.append("m.status = %s")
            params.append(status)
        if cursor is not None:
            (after,) = self.cursors.decode(cursor, int)
            where.append("m.seq > %s")
            params.append(after)
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {LISTED_COLUMNS} FROM rm_memberships m "  # noqa: S608
                "LEFT JOIN rm_membership_ends e ON e.membership_id = m.membership_id "
                f"WHERE {' AND '.join(where)} ORDER BY m.seq LIMIT %s",
                [*params, limit + 1],
            )
            rows = cur.fetchall()
        page, more = rows[:limit], len(rows) > limit
        items = [{**membership_item(r), "end_reason": r[11]} for r in page]
        next_cursor = self.cursors.encode(int(page[-1][1])) if more and page else None
        return {"items": items, "next_cursor": next_cursor}

    def members(self, network_id: str, question: MembershipQuestion) -> list[dict[str, Any]]:
        """The network's members on the day asked, each with its role and, when it belongs
        through a member network, `via` that network."""
        return self._walk(network_id, question, downward=True)

    def networks(self, party_id: str, question: MembershipQuestion) -> list[dict[str, Any]]:
        """The networks the party belongs to on the day asked (`via`: the member network
        through which it belongs)."""
        return self._walk(party_id, question, downward=False)

    def membership_ids_of(self, member_id: str) -> list[str]:
        """Every membership the party was asked for, recorded in, or held (any status)."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT membership_id FROM rm_memberships WHERE member_id = %s ORDER BY seq",
                (member_id,),
            )
            return [str(row[0]) for row in cur.fetchall()]

    def upward_edges(self, party_id: str) -> list[Edge]:
        """Every membership that holds, on any day, from the party upwards (its networks,
        their networks, …): what a new membership under this party is checked against."""
        marks = ", ".join(["%s"] * len(IN_GRAPH))
        sql = (
            "WITH RECURSIVE up(party) AS (SELECT %s UNION "  # noqa: S608
            "SELECT m.network_id FROM up JOIN rm_memberships m ON m.member_id = up.party "
            f"WHERE m.status IN ({marks})) "
            "SELECT m.network_id, m.member_id, m.valid_from, m.valid_to FROM rm_memberships m "
            f"JOIN up ON m.member_id = up.party WHERE m.status IN ({marks})"
        )
        with self.database.read() as cur:
            cur.execute(sql, [party_id, *IN_GRAPH, *IN_GRAPH])
            rows = cur.fetchall()
        return [
            Edge(
                str(network),
                str(member),
                date.fromisoformat(valid_from),
                date.fromisoformat(valid_to) if valid_to else None,
            )
            for network, member, valid_from, valid_to in rows
        ]

    def _walk(
        self, start: str, question: MembershipQuestion, *, downward: bool
    ) -> list[dict[str, Any]]:
        table, known, known_params = _source(question.recorded_as_of)
        day = question.as_of.isoformat()
        marks = ", ".join(["%s"] * len(IN_GRAPH))
        holds = (
            f"m.status IN ({marks}) AND m.valid_from <= %s "
            "AND (m.valid_to IS NULL OR m.valid_to >= %s)" + known
        )
        holds_params = [*IN_GRAPH, day, day, *known_params]
        near, far = ("network_id", "member_id") if downward else ("member_id", "network_id")
        depth = MAX_DEPTH if question.transitive else 1
        sql = (
            "WITH RECURSIVE walk(party, role, via, depth, valid_from, valid_to, "  # noqa: S608
            "membership_id) AS ("
            f"SELECT m.{far}, m.role, CAST(NULL AS TEXT), 1, m.valid_from, m.valid_to, "
            f"m.membership_id FROM {table} m WHERE m.{near} = %s AND {holds} "
            "UNION "
            f"SELECT m.{far}, m.role, w.party, w.depth + 1, m.valid_from, m.valid_to, "
            f"m.membership_id FROM walk w JOIN {table} m ON m.{near} = w.party "
            f"WHERE w.depth < %s AND {holds}) "
            "SELECT party, role, via, depth, valid_from, valid_to, membership_id FROM walk"
        )
        params = [start, *holds_params, depth, *holds_params]
        with self.database.read() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        nearest: dict[str, tuple[Any, ...]] = {}
        for row in sorted(rows, key=lambda r: (int(r[3]), str(r[2] or ""), str(r[6]))):
            nearest.setdefault(str(row[0]), row)
        key = "member_id" if downward else "network_id"
        return [
            {
                key: party,
                "role": row[1],
                "via": row[2],
                "depth": int(row[3]),
                "valid_from": row[4],
                "valid_to": row[5],
                "membership_id": row[6],
            }
            for party, row in sorted(nearest.items(), key=lambda p: (int(p[1][3]), p[0]))
        ]


def members_statement(network_id: str, as_of: date) -> tuple[str, list[Any]]:
    """A recursive `net(party)` common table expression: every member of the network on the
    day, through member networks too; for queries that filter by network."""
    day = as_of.isoformat()
    marks = ", ".join(["%s"] * len(IN_GRAPH))
    holds = (
        f"m.status IN ({marks}) AND m.valid_from <= %s AND (m.valid_to IS NULL OR m.valid_to >= %s)"
    )
    params: list[Any] = [*IN_GRAPH, day, day]
    sql = (
        "net(party, depth) AS ("  # noqa: S608 - our own text
        f"SELECT m.member_id, 1 FROM rm_memberships m WHERE m.network_id = %s AND {holds} "
        "UNION SELECT m.member_id, n.depth + 1 FROM net n JOIN rm_memberships m "
        f"ON m.network_id = n.party WHERE n.depth < %s AND {holds})"
    )
    return sql, [network_id, *params, MAX_DEPTH, *params]


def _source(recorded_as_of: datetime | None) -> tuple[str, str, list[str]]:
    """The memberships as known now, or as recorded at a moment."""
    if recorded_as_of is None:
        return "rm_memberships", "", []
    if recorded_as_of.tzinfo is None:
        raise InvalidInputError("recorded_as_of needs a time zone offset (RFC 3339)")
    moment = recorded_moment(recorded_as_of)
    return (
        "rm_membership_history",
        " AND m.recorded_from <= %s AND (m.recorded_to IS NULL OR m.recorded_to > %s)",
        [moment, moment],
    )


def membership_item(r: Any) -> dict[str, Any]:
    """A row of `MEMBERSHIP_COLUMNS` as the v1 contract names its fields."""
    return {
        "id": r[0],
        "network_id": r[2],
        "member_id": r[3],
        "role": r[4],
        "valid_from": r[5],
        "valid_to": r[6],
        "basis": r[7],
        "status": r[8],
        "requested_by": r[9],
        "version": int(r[10]),
    }
