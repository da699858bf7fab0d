"""The verifiable history: checkpoints, proofs, the server key, verification and evidence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from tris.interfaces.http.deps import (
    AdminPrincipal,
    AgreementReader,
    Anonymous,
    CurrentPrincipal,
    IdempotencyKey,
    ServicesDep,
)
from tris.interfaces.http.responses import (
    ETAG_DOC,
    READ,
    REPLAYED_DOC,
    documented,
    entity_tag,
    etag,
    problems,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.integrity import (
    CheckpointView,
    ConsistencyProofView,
    InclusionProofView,
    ServerKeyView,
    VerificationView,
)

router = APIRouter(prefix="/v1", tags=["integrity"], route_class=OffLoopRoute)

TreeSize = Annotated[int, Query(ge=0, le=2**62, description="A tree size (number of leaves)")]


@router.get(
    "/checkpoints/latest",
    response_model=CheckpointView,
    responses=problems(*READ),
    summary="The latest signed checkpoint of the Merkle log",
)
def latest_checkpoint(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """Tree size, root hash and time, signed with the server key (any token)."""
    return services.integrity.latest_checkpoint()


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=CheckpointView,
    responses=documented(201, 400, 401, 403, 409, 413, 422, 429, headers=REPLAYED_DOC),
    summary="Issue a checkpoint now (admin)",
)
def issue_checkpoint(
    principal: AdminPrincipal,
    idempotency: IdempotencyKey,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Log every new event and sign the tree; 409 if the log no longer extends the last one.

    With an Idempotency-Key, a retry gets the first checkpoint again and no new one.
    """
    outcome = services.integrity.issue_checkpoint_once(principal.token_id, idempotency)
    return respond(response, outcome)


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProofView,
    responses=problems(*READ, 422),
    summary="Inclusion proof of the event at a global position",
)
def inclusion_proof(
    principal: CurrentPrincipal,
    services: ServicesDep,
    position: Annotated[int, Query(ge=0, le=2**62, description="The event's global position")],
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="Tree size; default: the latest checkpoint's"),
    ] = None,
) -> Any:
    """The audit path from the event's leaf to the root of the tree of `tree_size` leaves."""
    return services.integrity.inclusion(position, tree_size)


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProofView,
    responses=problems(*READ, 422),
    summary="Consistency proof between two tree sizes",
)
def consistency_proof(
    principal: CurrentPrincipal, services: ServicesDep, first: TreeSize, second: TreeSize
) -> Any:
    """The proof that the log of `first` leaves is a prefix of the log of `second` leaves."""
    return services.integrity.consistency(first, second)


@router.get(
    "/server-key",
    response_model=ServerKeyView,
    responses=problems(429),
    dependencies=[Anonymous],
    summary="The server's public key, without a token",
)
def server_key(services: ServicesDep) -> Any:
    """The Ed25519 key every checkpoint and evidence bundle is signed with.

    It is public: an auditor checking a bundle offline fetches it without a token, and a
    token sent along is not looked at.
    """
    return services.integrity.server_key()


@router.get(
    "/agreements/{agreement_id}/verification",
    response_model=VerificationView,
    responses=documented(200, *READ, 403, headers=ETAG_DOC),
    summary="Verify an agreement: chain, signatures, inclusion",
)
def verify_agreement(
    agreement_id: str, principal: AgreementReader, services: ServicesDep, response: Response
) -> Any:
    """Each check of the agreement's record and its result (parties and auditors)."""
    return etag(response, services.integrity.verification(principal, agreement_id))


@router.get(
    "/agreements/{agreement_id}/evidence",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The evidence bundle (`tris-evidence/2`), verifiable offline with "
            "`tris verify BUNDLE.json`; the exact bytes are part of what is verified",
            "headers": ETAG_DOC,
        },
        **problems(*READ, 403, 409, 422),
    },
    summary="The agreement's evidence bundle",
)
def evidence(
    agreement_id: str,
    principal: AgreementReader,
    services: ServicesDep,
    memberships: Annotated[
        bool,
        Query(
            description="Also the signing parties' memberships at each signature: their "
            "events with inclusion proofs, and those that held on the day it was signed"
        ),
    ] = False,
) -> Response:
    """Events, revisions, signatures, keys, inclusion proofs and a signed checkpoint."""
    memberships_of = services.queries.membership_ids_of if memberships else None
    bundle = services.integrity.evidence_bundle(principal, agreement_id, memberships_of)
    # Written a window of events at a time; the last event is the version it covers.
    return StreamingResponse(
        bundle.chunks(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{agreement_id}.json"',
            "ETag": entity_tag(bundle.version),
        },
    )
