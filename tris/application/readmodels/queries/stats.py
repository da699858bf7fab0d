"""Statistics: agreements by sector mix and status, commitments committed vs fulfilled."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from tris.application.readmodels.queries.agreements import (
    NETWORK_CONDITION,
    PUBLISHED_CONDITION,
    STATUSES,
)
from tris.application.readmodels.queries.networks import members_statement
from tris.application.readmodels.queries.paging import ReadModelQueries
from tris.domain.errors import InvalidInputError
from tris.domain.values import SectorMix

# The statistics' agreement counts; the index on (sector_mix, status) answers it alone.
AGREEMENT_COUNTS = (
    "SELECT sector_mix, status, COUNT(*) FROM rm_agreements "
    "GROUP BY sector_mix, status ORDER BY sector_mix, status"
)

# Agreements by the month they came into force and their sector mix.
MONTHS = (
    "SELECT concluded_month, sector_mix, COUNT(*) FROM rm_agreements "
    "WHERE concluded_month IS NOT NULL GROUP BY concluded_month, sector_mix "
    "ORDER BY concluded_month, sector_mix"
)


class StatisticsQueries(ReadModelQueries):
    """The figures of `GET /v1/stats`."""

    def _chosen_figures(
        self, cur: Any, prefix: str, conditions: list[str], params: list[Any]
    ) -> tuple[list[tuple[str, str, int]], list[Any], list[tuple[str, str, int]]]:
        """Counts, months of conclusion and monthly totals of the agreements that meet
        `conditions`: committed by the month each commitment came into force, fulfilled
        (confirmed deliveries of the commitments in force) by the month of delivery."""
        chosen = (
            f"{prefix}chosen AS (SELECT a.agreement_id, a.sector_mix, a.status, "  # noqa: S608
            "a.concluded_month "
            f"FROM rm_agreements a WHERE {' AND '.join(conditions)}) "
        )
        cur.execute(
            chosen + "SELECT sector_mix, status, COUNT(*) FROM chosen "  # noqa: S608
            "GROUP BY sector_mix, status ORDER BY sector_mix, status",
            params,
        )
        counts = [(str(m), str(s), int(n)) for m, s, n in cur.fetchall()]
        cur.execute(chosen + MONTHS.replace("rm_agreements", "chosen"), params)
        months = [(str(m), str(x), int(n)) for m, x, n in cur.fetchall()]
        sums: dict[tuple[str, str, str], list[Decimal]] = defaultdict(
            lambda: [Decimal(0), Decimal(0)]
        )
        cur.execute(
            chosen + "SELECT c.kind, c.unit, c.committed_month, c.quantity FROM chosen "  # noqa: S608
            "JOIN rm_commitments c ON c.agreement_id = chosen.agreement_id",
            params,
        )
        for kind, unit, month, quantity in cur.fetchall():
            sums[(str(kind), str(unit), str(month))][0] += Decimal(quantity)
        cur.execute(
            chosen + "SELECT c.kind, c.unit, f.delivered_on, f.quantity FROM chosen "  # noqa: S608
            "JOIN rm_fulfilments f ON f.agreement_id = chosen.agreement_id "
            "JOIN rm_commitments c ON c.agreement_id = f.agreement_id "
            "AND c.commitment_id = f.commitment_id WHERE f.status = %s",
            [*params, "confirmed"],
        )
        for kind, unit, delivered_on, quantity in cur.fetchall():
            sums[(str(kind), str(unit), str(delivered_on)[:7])][1] += Decimal(quantity)
        totals = [
            (kind, unit, month, str(pair[0]), str(pair[1]))
            for (kind, unit, month), pair in sorted(sums.items(), key=lambda i: (i[0][2], i[0]))
        ]
        return counts, totals, months

    def stats(
        self,
        network: str | None = None,
        as_of: date | None = None,
        *,
        published_only: bool = False,
    ) -> dict[str, Any]:
        """Agreements by sector mix and status; commitments committed vs fulfilled. With a
        `network`, only agreements with a party that is a member of it (through member
        networks too) on `as_of` (default today); `published_only`: the published ones."""
        if as_of is not None and network is None:
            raise InvalidInputError("as_of belongs to the network filter: name a network too")
        prefix, conditions, params = "WITH ", list[str](), list[Any]()
        if network is not None:
            net, params = members_statement(network, as_of or self.today())
            prefix = f"WITH RECURSIVE {net}, "
            conditions.append(NETWORK_CONDITION)
            params.append(True)
        if published_only:
            conditions.append(PUBLISHED_CONDITION)
        with self.database.read() as cur:
            if conditions:
                counts, totals, months = self._chosen_figures(cur, prefix, conditions, params)
            else:
                cur.execute(AGREEMENT_COUNTS)
                counts = [(str(m), str(s), int(n)) for m, s, n in cur.fetchall()]
                cur.execute(MONTHS)
                months = [(str(m), str(x), int(n)) for m, x, n in cur.fetchall()]
                cur.execute(
                    "SELECT kind, unit, month, committed, fulfilled FROM rm_commitment_totals "
                    "ORDER BY month, kind, unit"
                )
                totals = cur.fetchall()
        total = sum(n for _, _, n in counts)
        by_mix = {m.value: 0 for m in SectorMix}
        by_status = dict.fromkeys(STATUSES, 0)
        for mix, status, n in counts:
            by_mix[mix] += n
            by_status[status] += n
        share = (
            str((Decimal(by_mix["trisectoral"]) / Decimal(total)).quantize(Decimal("0.0001")))
            if total
            else None
        )
        by_kind: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
        by_month = []
        for kind, unit, month, committed, fulfilled in totals:
            sums = by_kind[(kind, unit)]
            sums[0] += Decimal(committed)
            sums[1] += Decimal(fulfilled)
            by_month.append(
                {
                    "month": month,
                    "kind": kind,
                    "unit": unit,
                    "committed": plain_decimal(Decimal(committed)),
                    "fulfilled": plain_decimal(Decimal(fulfilled)),
                }
            )
        return {
            "agreements": {
                "total": total,
                "by_sector_mix": by_mix,
                "by_status": by_status,
                "by_sector_mix_and_status": [
                    {"sector_mix": m, "status": s, "count": n} for m, s, n in counts
                ],
                "trisectoral_share": share,
                "by_concluded_month": [
                    {"month": m, "sector_mix": x, "count": n} for m, x, n in months
                ],
            },
            "commitments": {
                "by_kind_and_unit": [
                    {
                        "kind": kind,
                        "unit": unit,
                        "committed": plain_decimal(sums[0]),
                        "fulfilled": plain_decimal(sums[1]),
                    }
                    for (kind, unit), sums in sorted(by_kind.items())
                ],
                "by_month": by_month,
            },
        }


def plain_decimal(value: Decimal) -> str:
    """A decimal as a plain string without exponent (`0`, `12.5`)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
