"""Schemas of the open event stream: one event as researchers read it, and a page of them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EventActorView(BaseModel):
    """The party (or `operator`) and the token that caused an event."""

    party_id: str
    token_id: str


class EventItemView(BaseModel):
    """One event of the global log, in its public form (no personal data, ever)."""

    position: int = Field(ge=1, description="Global position: gap-free, starting at 1")
    aggregate_id: str
    aggregate_type: str = Field(description="`Party` or `Agreement`")
    version: int = Field(ge=1, description="The event's version within its aggregate")
    type: str = Field(description="The event type: `Proposed`, `Signed`, `Registered`, …")
    event_version: int = Field(
        ge=1, description="The schema version of the event type; older events arrive upcast"
    )
    time: str = Field(description="When the event happened (ISO 8601 with offset)")
    actor: EventActorView | None
    data: dict[str, Any] = Field(
        description="The event's own fields as plain JSON; contact persons appear only as "
        '`{"id": person_id}`'
    )
    hash: str | None = Field(
        description="Lowercase hex SHA-256: the event's link in its aggregate's hash chain"
    )


class EventPage(BaseModel):
    """Events after a position, in global order."""

    items: list[EventItemView]
    next_after: int = Field(
        ge=0, description="Pass as `after` for the next page: the last position returned"
    )
