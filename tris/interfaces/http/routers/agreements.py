"""Agreements: proposal, reading, lifecycle decisions and the audit timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from tris.interfaces.http.deps import (
    AgreementCommand,
    AgreementReader,
    PageCursor,
    PartnerCommand,
    ServicesDep,
)
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    ETAG_DOC,
    LOCATION_DOC,
    READ,
    WRITE,
    WRITE_HEADERS,
    documented,
    entity_tag,
    etag,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.agreements import (
    AgreementCreate,
    AgreementView,
    HistoryView,
    ReasonCreate,
)
from tris.interfaces.http.schemas.common import IsoMoment

router = APIRouter(prefix="/v1/agreements", tags=["agreements"], route_class=OffLoopRoute)


@router.post(
    "",
    status_code=201,
    response_model=AgreementView,
    responses=documented(201, *WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Propose an agreement (partner, for its own party)",
)
def propose(
    body: AgreementCreate, ctx: PartnerCommand, services: ServicesDep, response: Response
) -> Any:
    """Propose content between at least two parties, the proposer's included: revision 1."""
    outcome = services.agreements.propose(ctx, body.draft())
    return respond(response, outcome, location=f"/v1/agreements/{outcome.body['id']}")


@router.get(
    "/{agreement_id}",
    response_model=AgreementView,
    responses=documented(200, *READ, 403, 422, headers=ETAG_DOC),
    summary="Read an agreement, now or in the past",
)
def read_agreement(
    agreement_id: str,
    principal: AgreementReader,
    services: ServicesDep,
    response: Response,
    version: Annotated[
        int | None, Query(ge=1, description="The agreement as it was at this version")
    ] = None,
    as_of: Annotated[
        IsoMoment | None,
        Query(description="The agreement as it stood at this moment (RFC 3339, with offset)"),
    ] = None,
) -> Any:
    """The current view; `version` or `as_of` for an earlier state."""
    view = services.agreements.get(principal, agreement_id, version=version, as_of=as_of)
    return etag(response, view)


@router.get(
    "/{agreement_id}/history",
    response_model=HistoryView,
    responses=documented(200, *READ, 403, 422, headers=ETAG_DOC),
    summary="The audit timeline",
)
def history(
    agreement_id: str,
    principal: AgreementReader,
    services: ServicesDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500, description="Events per page")] = 500,
    cursor: PageCursor = None,
) -> Any:
    """Every event, a page at a time: position, version, type, time, actor and a readable
    summary (`next_cursor` continues)."""
    items = services.agreements.history(principal, agreement_id)
    skip = 0 if cursor is None else services.queries.cursors.decode(cursor, int)[0]
    if items:
        response.headers["ETag"] = entity_tag(items[-1]["version"])
    page = items[skip : skip + limit]
    more = len(items) > skip + limit
    next_cursor = services.queries.cursors.encode(skip + limit) if more else None
    return {"items": page, "next_cursor": next_cursor}


def _decision(summary: str) -> dict[str, Any]:
    return {
        "status_code": 200,
        "response_model": AgreementView,
        "responses": documented(200, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
        "summary": summary,
    }


@router.post("/{agreement_id}/declination", **_decision("Decline the latest revision"))
def decline(
    agreement_id: str,
    body: ReasonCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """A party declines to sign the latest revision of a proposal."""
    return respond(response, services.agreements.decline(ctx, agreement_id, body.reason))


@router.post("/{agreement_id}/withdrawal", **_decision("Withdraw a proposal (its proposer)"))
def withdraw(
    agreement_id: str,
    body: ReasonCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """The proposer withdraws a proposal."""
    return respond(response, services.agreements.withdraw(ctx, agreement_id, body.reason))


@router.post("/{agreement_id}/termination", **_decision("Terminate an agreement in force"))
def terminate(
    agreement_id: str,
    body: ReasonCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """A party terminates an agreement in force."""
    return respond(response, services.agreements.terminate(ctx, agreement_id, body.reason))
