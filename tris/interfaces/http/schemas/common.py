"""Schemas shared by every resource: problems and the input base class."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class HealthView(BaseModel):
    """Liveness of the server."""

    status: str = "ok"
