"""A party's Ed25519 signing keys: registered and revoked by the party itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tris.interfaces.http.deps import Command, PlainCommand, ServicesDep
from tris.interfaces.http.responses import COMMAND_DOC, POSITION_DOC, WRITE, documented, respond
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.parties import SigningKeyCreate, SigningKeyRegistration

router = APIRouter(
    prefix="/v1/parties/{party_id}/signing-keys", tags=["signing keys"], route_class=OffLoopRoute
)


@router.post(
    "",
    status_code=201,
    response_model=SigningKeyRegistration,
    responses=documented(201, *WRITE, headers=COMMAND_DOC),
    summary="Register a signing key (the party itself)",
)
def register_signing_key(
    party_id: str, body: SigningKeyCreate, ctx: Command, services: ServicesDep, response: Response
) -> Any:
    """Register the public half of an Ed25519 key with its proof of possession; signatures
    name it by `key_id`. Without a valid proof 422; a key another party registered 409."""
    outcome = services.parties.register_signing_key(ctx, party_id, body.public_key, body.proof)
    return respond(response, outcome)


@router.delete(
    "/{key_id}",
    response_model=SigningKeyRegistration,
    responses=documented(200, 401, 403, 404, 409, 429, headers=POSITION_DOC),
    summary="Revoke a signing key (the party itself)",
)
def revoke_signing_key(
    party_id: str, key_id: str, ctx: PlainCommand, services: ServicesDep, response: Response
) -> Any:
    """Revoke a key: it signs nothing from now on; earlier signatures stay checkable."""
    outcome = services.parties.revoke_signing_key(ctx, party_id, key_id)
    return respond(response, outcome)
