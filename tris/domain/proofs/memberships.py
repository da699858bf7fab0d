"""Memberships at a signature, as their stored events say them: pure computation.

An evidence bundle asked for with memberships carries every event of the memberships of
its signing parties (under the checkpoint) and, per signature, the memberships that held
on the day it was signed as TRIS knew them when it was signed. Server and verifier both
fold the stored JSON with this module, so the claim is recomputed offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tris.domain.proofs.record import event_type, unwrap

MEMBERSHIP_TOPIC = "tris.domain.networks.membership:Membership"
HOLDING = ("active", "ended")


def is_membership_topic(topic: str) -> bool:
    """True for the topic of a Membership event."""
    return topic.startswith(MEMBERSHIP_TOPIC + ".")


def plain(value: Any) -> Any:
    """A stored value with every library wrapping ({"_type_", "_data_"}) taken off."""
    value = unwrap(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class MembershipState:
    """One membership as its events up to some point leave it."""

    membership_id: str
    network_id: str
    member_id: str
    role: str
    valid_from: str
    valid_to: str | None
    status: str

    def holds_on(self, day: str) -> bool:
        """True when the membership held on `day` (ISO date)."""
        return (
            self.status in HOLDING
            and self.valid_from <= day
            and (self.valid_to is None or self.valid_to >= day)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as a bundle lists it."""
        return {
            "membership_id": self.membership_id,
            "network_id": self.network_id,
            "member_id": self.member_id,
            "role": self.role,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
        }


def fold_memberships(
    events: Iterable[tuple[str, int, str, Any]], before_leaf: int
) -> dict[str, MembershipState]:
    """Memberships from (aggregate id, leaf index, topic, parsed state) of their events,
    taking only events logged before `before_leaf`."""
    known: dict[str, MembershipState] = {}
    for aggregate_id, leaf, topic, state in events:
        if leaf >= before_leaf or not is_membership_topic(topic):
            continue
        kind, data = event_type(topic), plain(state)
        if kind in ("Requested", "Recorded"):
            terms = data["terms"]
            known[aggregate_id] = MembershipState(
                aggregate_id,
                str(terms["network_id"]),
                str(terms["member_id"]),
                str(terms["role"]),
                str(terms["valid_from"]),
                terms["valid_to"],
                "active" if kind == "Recorded" else "pending",
            )
            continue
        membership = known.get(aggregate_id)
        if membership is None:
            continue
        if kind == "Accepted":
            membership.status = "active"
        elif kind == "Rejected":
            membership.status = "rejected"
        elif kind == "Ended":
            membership.status, membership.valid_to = "ended", data["valid_to"]
        elif kind == "Corrected":
            membership.valid_from, membership.valid_to = data["valid_from"], data["valid_to"]
    return known


def held_at_signature(
    events: list[tuple[str, int, str, Any]], party_id: str, signed_leaf: int, signed_on: date
) -> list[dict[str, Any]]:
    """The party's memberships that held on the day it signed, as logged before it signed."""
    day = signed_on.isoformat()
    held = [
        m
        for m in fold_memberships(events, signed_leaf).values()
        if m.member_id == party_id and m.holds_on(day)
    ]
    return [m.to_dict() for m in sorted(held, key=lambda m: (m.network_id, m.membership_id))]


def signed_on(state: Any) -> date:
    """The day (UTC) a stored Signed event was made, from its `timestamp`."""
    return date.fromisoformat(str(plain(state["timestamp"]))[:10])
