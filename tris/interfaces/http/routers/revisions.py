"""Revisions of an agreement: new content, reading, diffs, signing payloads and signatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from tris.interfaces.http.deps import AgreementCommand, AgreementReader, ServicesDep
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    COMMAND_DOC,
    ETAG_DOC,
    LOCATION_DOC,
    READ,
    documented,
    problems,
    respond,
)
from tris.interfaces.http.schemas.agreements import (
    AgreementView,
    DiffView,
    RevisionCreate,
    RevisionList,
    RevisionView,
    SignatureCreate,
)

router = APIRouter(prefix="/v1/agreements/{agreement_id}", tags=["revisions"])

RevisionNumber = Annotated[int, Path(ge=1, description="Revision number, from 1")]
WRITE_HEADERS = {**ETAG_DOC, **COMMAND_DOC}


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
    responses=problems(*READ, 403),
    summary="Every revision with hashes and signatures",
)
def list_revisions(agreement_id: str, principal: AgreementReader, services: ServicesDep) -> Any:
    """Every revision, oldest first."""
    return {"items": services.agreements.revisions(principal, agreement_id), "next_cursor": None}


@router.get(
    "/revisions/{number}",
    response_model=RevisionView,
    responses=problems(*READ, 403, 422),
    summary="One revision",
)
def read_revision(
    agreement_id: str, number: RevisionNumber, principal: AgreementReader, services: ServicesDep
) -> Any:
    """One revision: content, hash, signing payload, signatures, declinations."""
    return services.agreements.revision(principal, agreement_id, number)


@router.get(
    "/revisions/{number}/diff",
    response_model=DiffView,
    responses=problems(*READ, 403, 422),
    summary="Field-level changes between two revisions",
)
def diff(
    agreement_id: str,
    number: RevisionNumber,
    principal: AgreementReader,
    services: ServicesDep,
    against: Annotated[int, Query(ge=1, description="The revision to compare with")],
) -> Any:
    """What changed from revision `against` to revision `number`."""
    return services.agreements.diff(principal, agreement_id, number, against)


@router.get(
    "/revisions/{number}/signing-payload",
    response_class=Response,
    responses={
        200: {
            "description": "The exact bytes to sign: canonical JSON (RFC 8785) of "
            "`{agreement_id, revision, content}`; sign the body as received",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **problems(*READ, 403, 422),
    },
    summary="The canonical bytes a party signs",
)
def signing_payload(
    agreement_id: str, number: RevisionNumber, principal: AgreementReader, services: ServicesDep
) -> Response:
    """The revision's signing payload, byte for byte."""
    payload = services.agreements.signing_payload(principal, agreement_id, number)
    return Response(content=payload, media_type="application/json")


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
