"""The audit timeline: each event of an agreement as a line a person can read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tris.domain.agreement import Agreement


def event_type(event: Any) -> str:
    """The short type name of an event (`Signed`, `FulfilmentRecorded`, …)."""
    return type(event).__name__


def summarise(event: Any, names: Mapping[str, str]) -> str:
    """One sentence saying what the event did, naming parties by name where known."""

    def who(party_id: str) -> str:
        return names.get(party_id, party_id)

    actor = who(event.actor.party_id)
    match event:
        case Agreement.Proposed():
            content = event.content
            return (
                f"{actor} proposed “{content.title}” between "
                f"{', '.join(who(p) for p in content.parties)} "
                f"with {len(content.commitments)} commitment(s)"
            )
        case Agreement.Revised():
            return f"{actor} revised the proposal (revision {event.revision}): {event.rationale}"
        case Agreement.Signed():
            return f"{actor} signed revision {event.revision} with key {event.key_id}"
        case Agreement.Concluded():
            return f"all parties signed revision {event.revision}: the agreement is in force"
        case Agreement.Declined():
            return f"{actor} declined revision {event.revision}: {event.reason}"
        case Agreement.Withdrawn():
            return f"{actor} withdrew the proposal: {event.reason}"
        case Agreement.AmendmentProposed():
            return f"{actor} proposed amendment (revision {event.revision}): {event.rationale}"
        case Agreement.AmendmentRejected():
            return f"{actor} rejected amendment {event.revision}: {event.reason}"
        case Agreement.AmendmentAdopted():
            return f"all parties signed amendment {event.revision}: it is in force"
        case Agreement.FulfilmentRecorded():
            return (
                f"{actor} recorded delivery {event.fulfilment_id} of {event.quantity} "
                f"against {event.commitment_id} on {event.delivered_on.isoformat()}"
            )
        case Agreement.FulfilmentConfirmed():
            return f"{actor} confirmed delivery {event.fulfilment_id}"
        case Agreement.FulfilmentDisputed():
            return f"{actor} disputed delivery {event.fulfilment_id}: {event.reason}"
        case Agreement.Completed():
            return "every commitment is fulfilled: the agreement is completed"
        case Agreement.Terminated():
            return f"{actor} terminated the agreement: {event.reason}"
    return f"{actor}: {event_type(event)}"


def timeline_item(event: Any, position: int | None, names: Mapping[str, str]) -> dict[str, Any]:
    """One row of the audit timeline."""
    return {
        "position": position,
        "version": event.originator_version,
        "type": event_type(event),
        "time": event.timestamp.isoformat(),
        "actor": {"party_id": event.actor.party_id, "token_id": event.actor.token_id},
        "actor_name": names.get(event.actor.party_id),
        "summary": summarise(event, names),
    }
