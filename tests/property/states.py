"""Comparing aggregates: their attributes, and a rendering strict enough to see every detail."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's attributes, without the events not yet collected."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def exact(state: dict[str, Any]) -> str:
    """A strict rendering of a state: equal decimals of another exponent render apart.

    Keys are sorted because a snapshot restores attributes in another order.
    """
    return repr(sorted(state.items()))
