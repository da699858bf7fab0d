"""Statistics: agreements by sector mix and status, commitments committed vs fulfilled."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from tris.application.readmodels.queries.agreements import STATUSES
from tris.application.readmodels.queries.paging import ReadModelQueries
from tris.domain.values import SectorMix

# The statistics' agreement counts; the index on (sector_mix, status) answers it alone.
AGREEMENT_COUNTS = (
    "SELECT sector_mix, status, COUNT(*) FROM rm_agreements "
    "GROUP BY sector_mix, status ORDER BY sector_mix, status"
)


class StatisticsQueries(ReadModelQueries):
    """The figures of `GET /v1/stats`."""

    def stats(self) -> dict[str, Any]:
        """Agreements by sector mix and status; commitments committed vs fulfilled."""
        with self.database.read() as cur:
            cur.execute(AGREEMENT_COUNTS)
            counts = [(str(m), str(s), int(n)) for m, s, n in cur.fetchall()]
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
