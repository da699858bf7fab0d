"""Markets: the list and its filters, a market's offers and needs, its stats and follow-ups."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tris.application.readmodels.queries.agreements import current_parties
from tris.application.readmodels.queries.paging import ReadModelQueries, check_limit
from tris.application.readmodels.queries.stats import plain_decimal
from tris.domain.errors import InvalidInputError, MarketNotFoundError
from tris.domain.market.market import MarketFormat, MarketStatus
from tris.domain.market.posting import PostingStatus

FOLLOW_UP_DAYS = 14
POSTING_COLUMNS = (
    "posting_id, seq, market_id, side, party_id, kind, quantity, unit, description, corner, "
    "status, deal_id, agreement_id, version"
)


@dataclass(frozen=True)
class MarketFilter:
    """The filters of `GET /v1/markets`; None means no filter. `on` is a day the market
    runs on."""

    region: str | None = None
    format: str | None = None
    status: str | None = None
    on: date | None = None

    def validate(self) -> None:
        """InvalidInputError for values no market can have."""
        if self.format is not None and self.format not in {f.value for f in MarketFormat}:
            raise InvalidInputError("format must be marketplace, action_day or round_table")
        if self.status is not None and self.status not in {s.value for s in MarketStatus}:
            raise InvalidInputError("status must be planned, open, closed or cancelled")


class MarketQueries(ReadModelQueries):
    """Pages of markets and of their offers and needs; a market's evaluation."""

    def markets(
        self, filters: MarketFilter, *, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of markets, latest scheduled first."""
        filters.validate()
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("region", filters.region),
            ("format", filters.format),
            ("status", filters.status),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if filters.on is not None:
            where += ["starts_on <= %s", "ends_on >= %s"]
            params += [filters.on.isoformat(), filters.on.isoformat()]
        if cursor is not None:
            (after,) = self.cursors.decode(cursor, int)
            where.append("seq < %s")
            params.append(after)
        sql = (
            "SELECT market_id, seq, title, format, region, venue, status, starts_at, ends_at, "  # noqa: S608
            "participants, closed_at, version FROM rm_markets"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY seq DESC LIMIT %s"
        )
        params.append(limit + 1)
        with self.database.read() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        page, more = rows[:limit], len(rows) > limit
        items = [
            {
                "id": r[0],
                "title": r[2],
                "format": r[3],
                "region": r[4],
                "venue": r[5],
                "status": r[6],
                "starts_at": r[7],
                "ends_at": r[8],
                "participants": int(r[9]),
                "closed_at": r[10],
                "version": int(r[11]),
            }
            for r in page
        ]
        next_cursor = self.cursors.encode(int(page[-1][1])) if more and page else None
        return {"items": items, "next_cursor": next_cursor}

    def postings(
        self,
        market_id: str,
        side: str,
        *,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """A page of a market's offers (or needs), in the order they were posted."""
        check_limit(limit)
        if status is not None and status not in {s.value for s in PostingStatus}:
            raise InvalidInputError("status must be open, matched or withdrawn")
        self._require_market(market_id)
        where = ["market_id = %s", "side = %s"]
        params: list[Any] = [market_id, side]
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if cursor is not None:
            (after,) = self.cursors.decode(cursor, int)
            where.append("seq > %s")
            params.append(after)
        params.append(limit + 1)
        with self.database.read() as cur:
            cur.execute(
                f"SELECT {POSTING_COLUMNS} FROM rm_market_postings "  # noqa: S608
                f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT %s",
                params,
            )
            rows = cur.fetchall()
        page, more = rows[:limit], len(rows) > limit
        items = [_posting(r) for r in page]
        next_cursor = self.cursors.encode(int(page[-1][1])) if more and page else None
        return {"items": items, "next_cursor": next_cursor}

    def market_stats(self, market_id: str) -> dict[str, Any]:
        """A market's evaluation: offers, needs, deals, concluded, notarised, completed, the
        fulfilment rate (completed ÷ concluded) and committed vs fulfilled by kind and unit."""
        with self.database.read() as cur:
            status = self._require_market(market_id, cur)
            cur.execute(
                "SELECT side, COUNT(*) FROM rm_market_postings WHERE market_id=%s GROUP BY side",
                (market_id,),
            )
            sides = {str(side): int(n) for side, n in cur.fetchall()}
            cur.execute(
                "SELECT COUNT(*), "
                "COALESCE(SUM(CASE WHEN concluded THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN notarised THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) "
                "FROM rm_market_deals WHERE market_id=%s",
                (market_id,),
            )
            deals, concluded, notarised, completed = (int(v) for v in cur.fetchone() or (0,) * 4)
            cur.execute(
                "SELECT c.kind, c.unit, c.quantity, c.confirmed FROM rm_market_deals d "
                "JOIN rm_commitments c ON c.agreement_id = d.agreement_id "
                "WHERE d.market_id=%s AND d.concluded = %s",
                (market_id, True),
            )
            rows = cur.fetchall()
        sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
        for kind, unit, quantity, confirmed in rows:
            pair = sums[(str(kind), str(unit))]
            pair[0] += Decimal(quantity)
            pair[1] += min(Decimal(confirmed), Decimal(quantity))
        rate = (
            str((Decimal(completed) / Decimal(concluded)).quantize(Decimal("0.0001")))
            if concluded
            else None
        )
        return {
            "market_id": market_id,
            "status": status,
            "offers": sides.get("offer", 0),
            "needs": sides.get("need", 0),
            "deals": deals,
            "concluded": concluded,
            "notarised": notarised,
            "completed": completed,
            "fulfilment_rate": rate,
            "commitments": [
                {
                    "kind": kind,
                    "unit": unit,
                    "committed": plain_decimal(pair[0]),
                    "fulfilled": plain_decimal(pair[1]),
                }
                for (kind, unit), pair in sorted(sums.items())
            ],
        }

    def follow_ups(
        self, market_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        """Agreements from the market in force without a recorded fulfilment, once the
        market has closed and 14 days have passed since its day (none before)."""
        check_limit(limit)
        with self.database.read() as cur:
            self._require_market(market_id, cur)
            cur.execute("SELECT status, ends_on FROM rm_markets WHERE market_id=%s", (market_id,))
            row = cur.fetchone()
            due = _follow_up_due(row[1]) if row and row[0] == "closed" else None
            if due is None or self.today() < due:
                return {"items": [], "next_cursor": None, "due_on": _iso(due)}
            params: list[Any] = [market_id, "in_force", 0]
            where = "d.market_id=%s AND d.status=%s AND d.fulfilments=%s"
            if cursor is not None:
                (after,) = self.cursors.decode(cursor, int)
                where += " AND d.seq > %s"
                params.append(after)
            params.append(limit + 1)
            cur.execute(
                "SELECT d.agreement_id, d.seq, d.deal_id, d.broker, d.notarised, a.title "  # noqa: S608
                "FROM rm_market_deals d LEFT JOIN rm_agreements a "
                f"ON a.agreement_id = d.agreement_id WHERE {where} ORDER BY d.seq LIMIT %s",
                params,
            )
            rows = cur.fetchall()
            page, more = rows[:limit], len(rows) > limit
            governing = current_parties(self.database.backend, cur, [r[0] for r in page])
            parties = {a: [p["party_id"] for p in found] for a, found in governing.items()}
        items = [
            {
                "agreement_id": r[0],
                "deal_id": r[2],
                "broker": r[3],
                "notarised": bool(r[4]),
                "title": r[5],
                "parties": parties.get(r[0], []),
            }
            for r in page
        ]
        next_cursor = self.cursors.encode(int(page[-1][1])) if more and page else None
        return {"items": items, "next_cursor": next_cursor, "due_on": _iso(due)}

    def _require_market(self, market_id: str, cur: Any | None = None) -> str:
        """The market's status in the read model, or MarketNotFoundError."""
        if cur is None:
            with self.database.read() as own:
                return self._require_market(market_id, own)
        cur.execute("SELECT status FROM rm_markets WHERE market_id=%s", (market_id,))
        row = cur.fetchone()
        if row is None:
            raise MarketNotFoundError(f"no market {market_id}")
        return str(row[0])


def _follow_up_due(ends_on: str) -> date:
    """Organisers follow up two weeks after the market day."""
    return date.fromisoformat(ends_on) + timedelta(days=FOLLOW_UP_DAYS)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _posting(r: Any) -> dict[str, Any]:
    return {
        "id": r[0],
        "market_id": r[2],
        "side": r[3],
        "party_id": r[4],
        "kind": r[5],
        "quantity": r[6],
        "unit": r[7],
        "description": r[8],
        "corner": r[9],
        "status": r[10],
        "deal_id": r[11],
        "agreement_id": r[12],
        "version": int(r[13]),
    }
