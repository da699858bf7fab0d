"""Amendments of an agreement in force: proposed by a party, signed like revisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from tris.interfaces.http.deps import AgreementCommand, ServicesDep
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    LOCATION_DOC,
    WRITE_HEADERS,
    documented,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.agreements import AgreementView, AmendmentCreate, ReasonCreate

router = APIRouter(
    prefix="/v1/agreements/{agreement_id}/amendments", tags=["amendments"], route_class=OffLoopRoute
)


@router.post(
    "",
    status_code=201,
    response_model=AgreementView,
    responses=documented(201, *AGREEMENT_WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Propose an amendment to an agreement in force",
)
def propose_amendment(
    agreement_id: str,
    body: AmendmentCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """New whole content with a rationale; it takes effect when every party signed it."""
    outcome = services.agreements.propose_amendment(ctx, agreement_id, body.draft(), body.rationale)
    location = f"/v1/agreements/{agreement_id}/revisions/{outcome.body['revision']}"
    return respond(response, outcome, location=location)


@router.post(
    "/{number}/rejection",
    response_model=AgreementView,
    responses=documented(200, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Reject the pending amendment",
)
def reject_amendment(
    agreement_id: str,
    number: Annotated[int, Path(ge=1, description="The amendment's revision number")],
    body: ReasonCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Any party rejects the pending amendment, with a reason."""
    outcome = services.agreements.reject_amendment(ctx, agreement_id, number, body.reason)
    return respond(response, outcome)
