"""No circles: a network may never be a member of itself, directly or through others, on
any day. Pure computation over the memberships' validity periods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from tris.domain.errors import MembershipCycleError

# The last day TRIS knows of: an open-ended membership is valid until then.
OPEN_END = date(9999, 12, 31)


@dataclass(frozen=True)
class Edge:
    """`member` belongs to `network` from `valid_from` to `valid_to` (both days included;
    None: open-ended)."""

    network: str
    member: str
    valid_from: date
    valid_to: date | None = None

    @property
    def until(self) -> date:
        """The last day of the period (far in the future when open-ended)."""
        return self.valid_to or OPEN_END


def refuse_cycle(candidate: Edge, memberships: Iterable[Edge]) -> None:
    """MembershipCycleError when adding `candidate` to `memberships` makes a network a
    member of itself on some day of the candidate's period.

    A circle through the candidate (network N takes member M) exists when, on one day of
    its period, N is a member of M — directly or through a chain of networks each valid on
    that same day. The search follows N's own memberships upwards and carries the days
    still common to every link of the chain; a chain whose days run out stops.
    """
    if candidate.member == candidate.network:
        raise MembershipCycleError(f"party {candidate.member} cannot be a member of itself")
    upward: dict[str, list[Edge]] = defaultdict(list)
    for edge in memberships:
        upward[edge.member].append(edge)
    # (party, first day, last day): the party is reached from N on every day between.
    frontier = [(candidate.network, candidate.valid_from, candidate.until)]
    explored: dict[str, list[tuple[date, date]]] = defaultdict(list)
    while frontier:
        party, start, end = frontier.pop()
        if any(s <= start and end <= e for s, e in explored[party]):
            continue  # these days were searched from this party already
        explored[party].append((start, end))
        for edge in upward[party]:
            first, last = max(start, edge.valid_from), min(end, edge.until)
            if first > last:
                continue
            if edge.network == candidate.member:
                raise MembershipCycleError(
                    f"network {candidate.network} would be a member of itself on "
                    f"{first.isoformat()}: it belongs to {candidate.member} then, "
                    "directly or through other networks"
                )
            frontier.append((edge.network, first, last))
