"""A part of the log chosen by the database: the events a rebuild's process reads (ADR 27).

A rebuild's partner process applies the events of some agreements, the first process
everything else. Each reads only its own part, so neither fetches and skips the other's
rows: the events of the given topics whose aggregate's id ends in a byte below `below`
(`inside`), or every other event (not `inside`). Each recorder says it in its SQL;
`holds` is the same rule in Python. A `Tally` of each part (events and the sum of their
positions) must add up to the log's: how the first process checks what the partner applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID


class Tally(NamedTuple):
    """A stretch of events counted: how many, and the sum of their positions."""

    events: int = 0
    positions: int = 0

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        """All these stretches together."""
        events = positions = 0
        for tally in tallies:
            events += tally.events
            positions += tally.positions
        return cls(events, positions)

    def plus(self, other: Tally) -> Tally:
        """Both stretches together."""
        return Tally.total((self, other))

    def counting(self, positions: list[int]) -> Tally:
        """This tally and events at these positions."""
        return Tally(self.events + len(positions), self.positions + sum(positions))


@dataclass(frozen=True)
class LogPart:
    """The events of `topics` whose originator id's last byte is below `below` (`inside`),
    or all the others (not `inside`)."""

    topics: tuple[str, ...]
    below: int
    inside: bool

    def __post_init__(self) -> None:
        if not 0 <= self.below <= 255:
            raise ValueError(f"a byte bound must be 0 to 255, not {self.below}")

    def holds(self, originator_id: UUID, topic: str) -> bool:
        """Whether an event with this originator and topic belongs to this part."""
        chosen = topic in self.topics and originator_id.int & 0xFF < self.below
        return chosen == self.inside


def bound_for_share(
    tallies: Mapping[tuple[str, int], Tally], topics: Collection[str], share: float
) -> int:
    """The byte bound whose part (`inside`) holds the share of all the events counted
    (`tallies`, by topic and last byte of the originator's id) closest to `share`: one
    long-lived agreement or an uneven spread of ids moves the bound, not the balance."""
    by_byte = [0] * 256
    total = 0
    for (topic, byte), tally in tallies.items():
        total += tally.events
        if topic in topics:
            by_byte[byte] += tally.events
    wanted = share * total
    best, best_gap = 0, wanted
    below = 0
    for byte in range(255):
        below += by_byte[byte]
        if abs(below - wanted) < best_gap:
            best, best_gap = byte + 1, abs(below - wanted)
    return best
