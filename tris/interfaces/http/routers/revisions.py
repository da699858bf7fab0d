"""Revisions of an agreement: new content, reading, diffs, signing payloads and signatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from tris.interfaces.http.deps import AgreementCommand, AgreementReader, PageCursor, ServicesDep
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    ETAG_DOC,
    LOCATION_DOC,
    READ,
    WRITE_HEADERS,
    documented,
    entity_tag,
    problems,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.agreements import (
    AgreementView,
    DiffView,
    RevisionCreate,
    RevisionList,
    RevisionView,
    SignatureCreate,
)

router = APIRouter(
    prefix="/v1/agreements/{agreement_id}", tags=["revisions"], route_class=OffLoopRoute
)

RevisionNumber = Annotated[int, Path(ge=1, description="Revision number, from 1")]


@router.post(
    "/revisions",
    status_code=201,
    response_model=AgreementView,
    responses=documented(201, *AGREEMENT_WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Replace a proposal's content: a new revision",
)
def revise(
    agreement_id: str,
    body: RevisionCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Any party of a proposal replaces the whole content, with a rationale."""
    outcome = services.agreements.revise(ctx, agreement_id, body.draft(), body.rationale)
    location = f"/v1/agreements/{agreement_id}/revisions/{outcome.body['revision']}"
    return respond(response, outcome, location=location)


@router.get(
    "/revisions",
    response_model=RevisionList,
    responses=documented(200, *READ, 403, 422, headers=ETAG_DOC),
    summary="Every revision with hashes and signatures",
)
def list_revisions(
    agreement_id: str,
    principal: AgreementReader,
    services: ServicesDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500, description="Revisions per page")] = 100,
    cursor: PageCursor = None,
) -> Any:
    """The revisions, oldest first, a page at a time (`next_cursor` continues)."""
    reading = services.agreements.read(principal, agreement_id)
    start = 1 if cursor is None else services.queries.cursors.decode(cursor, int)[0]
    response.headers["ETag"] = entity_tag(reading.version)
    items = reading.revisions(start, limit + 1)
    more = len(items) > limit
    next_cursor = services.queries.cursors.encode(start + limit) if more else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@router.get(
    "/revisions/{number}",
    response_model=RevisionView,
    responses=documented(200, *READ, 403, 422, headers=ETAG_DOC),
    summary="One revision",
)
def read_revision(
    agreement_id: str,
    number: RevisionNumber,
    principal: AgreementReader,
    services: ServicesDep,
    response: Response,
) -> Any:
    """One revision: content, hash, signing payload, signatures, declinations."""
    reading = services.agreements.read(principal, agreement_id)
    view = reading.revision(number)
    response.headers["ETag"] = entity_tag(reading.version)
    return view


@router.get(
    "/revisions/{number}/diff",
    response_model=DiffView,
    responses=documented(200, *READ, 403, 422, headers=ETAG_DOC),
    summary="Field-level changes between two revisions",
)
def diff(
    agreement_id: str,
    number: RevisionNumber,
    principal: AgreementReader,
    services: ServicesDep,
    response: Response,
    against: Annotated[int, Query(ge=1, description="The revision to compare with")],
) -> Any:
    """What changed from revision `against` to revision `number`."""
    reading = services.agreements.read(principal, agreement_id)
    changes = reading.diff(number, against)
    response.headers["ETag"] = entity_tag(reading.version)
    return changes


@router.get(
    "/revisions/{number}/signing-payload",
    response_class=Response,
    responses={
        200: {
            "description": "The exact bytes to sign: canonical JSON (RFC 8785) of "
            "`{agreement_id, revision, content}`; sign the body as received",
            "content": {"application/json": {"schema": {"type": "object"}}},
            "headers": ETAG_DOC,
        },
        **problems(*READ, 403, 422),
    },
    summary="The canonical bytes a party signs",
)
def signing_payload(
    agreement_id: str, number: RevisionNumber, principal: AgreementReader, services: ServicesDep
) -> Response:
    """The revision's signing payload, byte for byte."""
    reading = services.agreements.read(principal, agreement_id)
    return Response(
        content=reading.signing_payload(number),
        media_type="application/json",
        headers={"ETag": entity_tag(reading.version)},
    )


@router.post(
    "/signatures",
    status_code=201,
    response_model=AgreementView,
    responses=documented(201, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Sign the latest revision (or the pending amendment)",
)
def sign(
    agreement_id: str,
    body: SignatureCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """A party signs with one of its keys; the last signature puts the revision in force."""
    outcome = services.agreements.sign(
        ctx, agreement_id, body.revision, body.key_id, body.signature
    )
    return respond(response, outcome)
