"""Schemas shared by every resource: problems and the input base class."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field


def _date_text(value: Any) -> Any:
    """Only text (or a date) becomes a date: a JSON number is not one, whatever pydantic says."""
    if isinstance(value, str | date):
        return value
    raise ValueError("must be an ISO 8601 date, as a string: 2026-06-01")


# A date in a request body, written as the schema says: an ISO 8601 string (pydantic would
# otherwise read a number as a Unix time).
IsoDate = Annotated[date, BeforeValidator(_date_text)]


_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_MOMENT = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _day_text(value: Any) -> Any:
    """A query's day is written `YYYY-MM-DD` (pydantic would read `0` as a Unix time)."""
    if isinstance(value, date) or (isinstance(value, str) and _DAY.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date: 2026-06-01")


def _moment_text(value: Any) -> Any:
    """A query's moment is written in RFC 3339 (pydantic would read `0` as a Unix time)."""
    if isinstance(value, datetime) or (isinstance(value, str) and _MOMENT.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date and time with offset: 2026-06-01T12:00:00Z")


# A day and a moment in a query string, as the OpenAPI document says them.
IsoDay = Annotated[date, BeforeValidator(_day_text)]
IsoMoment = Annotated[AwareDatetime, BeforeValidator(_moment_text)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    """One malformed field of a request."""

    field: str = Field(description="Where: `body.commitments.0.quantity`, `query.limit`, …")
    message: str
    type: str


class ProblemView(BaseModel):
    """An RFC 9457 problem document: every error answer of the API."""

    type: str = Field(
        description="`https://tris.example/problems/<slug>`, the slug naming the broken rule"
    )
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path of the request that failed")
    errors: list[FieldProblem] | None = Field(
        default=None, description="For request validation problems: each malformed field"
    )


class ReadModelFailureView(BaseModel):
    """A read model that cannot apply an event: it stays behind it until the cause is fixed."""

    projection: str
    position: int = Field(description="The position of the event it failed on")
    event_type: str
    error: str
    failed_at: str


class HealthView(BaseModel):
    """Liveness of the server, and whether every read model keeps up."""

    status: str = Field(
        default="ok",
        description="`ok`; `degraded` when a read model fails on an event or the database "
        "cannot be read (the server itself is alive either way)",
    )
    database: str = Field(default="ok", description="`ok` or `unavailable`")
    failing_read_models: list[ReadModelFailureView] = Field(default_factory=list)
