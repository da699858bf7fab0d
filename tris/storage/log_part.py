"""A part of the log chosen by the database: the events a rebuild's process reads (ADR 27).

A rebuild's partner process applies the events of some agreements, the first process
everything else. Each reads only its own part, so neither fetches and skips the other's
rows: the events of the given topics whose aggregate's id ends in a byte below `below`
(`inside`), or every other event (not `inside`). Each recorder says it in its SQL;
`holds` is the same rule in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


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
