"""A batch of saves' follow-up: read-model statements sent in the saves' own round trip.

On PostgreSQL a batch of saves goes out as BEGIN, the saves' statements, COMMIT and the
sequencer's call, in one round trip (ADR 30). While the database flushes that COMMIT to
disk, the process writes down the read-model statements for the batch's events at the
positions it predicts for them, and sends them behind the sequencer's call (ADR 35): the
sequencer's call, a check that the events got exactly those positions, the read models'
claim and their statements form one transaction, ended by the pipeline's sync. When
any of them fails — the positions were not the predicted ones, the read models stood
elsewhere — that transaction is rolled back whole, numbering included (harmless: the
events' own transaction committed before it, and nobody saw the numbers), and the batch
is numbered and its events applied as before, after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent

# The SQLSTATE with which the positions check refuses (a class of our own, as the
# tracking claim's `TR001`).
POSITIONS_REFUSED = "TR002"


@dataclass(frozen=True)
class FollowUp:
    """The statements to send after the sequencer's call, and what to do once the round
    trip is over: `settle(applied)` — whether the statements committed (else what was kept
    from the predicted positions is forgotten, and the events are applied as before)."""

    statements: list[tuple[Any, tuple[Any, ...]]]
    settle: Callable[[bool], None]


# Given the first predicted position and the batch's events (stored and domain, in the
# order they are stored), the follow-up — or None when there is none to send.
FollowUpSource = Callable[[int, Sequence[tuple[StoredEvent, Any]]], FollowUp | None]
