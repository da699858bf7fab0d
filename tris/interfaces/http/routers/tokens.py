"""API tokens: issued and revoked by admins; secrets shown once.

Issuing a token changes no aggregate, so its Idempotency-Key record is kept on its own,
in the token's transaction. It holds the token's id and the random seed its secret is
derived from under the server key, never the secret: a retry with the same key and body
is answered with the first answer again (`Idempotent-Replayed: true`), as every POST is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from tris.application.access import Role
from tris.application.readmodels.queries.paging import MAX_CURSOR
from tris.application.tokens import IssuedToken
from tris.interfaces.http.deps import AdminPrincipal, IdempotencyKey, ServicesDep
from tris.interfaces.http.responses import (
    REPLAYED_DOC,
    REPLAYED_HEADER,
    WRITE,
    documented,
    problems,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.tokens import (
    IssuedTokenView,
    PartnerTokenCreate,
    TokenCreate,
    TokenList,
)

router = APIRouter(tags=["tokens"], route_class=OffLoopRoute)

MAX_PAGE = 500

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="The token's id")]


@router.post(
    "/v1/parties/{party_id}/tokens",
    status_code=201,
    response_model=IssuedTokenView,
    responses=documented(201, *WRITE, headers=REPLAYED_DOC),
    summary="Issue a partner token for a party (admin)",
)
def issue_partner_token(
    party_id: str,
    principal: AdminPrincipal,
    idempotency: IdempotencyKey,
    services: ServicesDep,
    response: Response,
    body: PartnerTokenCreate | None = None,
) -> Any:
    """Issue a token that acts for the party; the secret is in this answer only."""
    party = services.parties.get(principal, party_id)
    issued = services.tokens.issue_once(
        Role.PARTNER,
        party["id"],
        body.label if body else None,
        issuer_token_id=principal.token_id,
        idempotency=idempotency,
    )
    return _answer(response, issued)


@router.post(
    "/v1/tokens",
    status_code=201,
    response_model=IssuedTokenView,
    responses=documented(201, *WRITE, headers=REPLAYED_DOC),
    summary="Issue an auditor or researcher token (admin)",
)
def issue_token(
    body: TokenCreate,
    principal: AdminPrincipal,
    idempotency: IdempotencyKey,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Issue a reading token; the secret is in this answer only."""
    issued = services.tokens.issue_once(
        Role(body.role),
        None,
        body.label,
        issuer_token_id=principal.token_id,
        idempotency=idempotency,
    )
    return _answer(response, issued)


def _answer(response: Response, issued: IssuedToken) -> dict[str, Any]:
    """The issued token's answer, marked when it repeats the first answer to its key."""
    if issued.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return {
        "token": issued.token,
        "token_id": issued.token_id,
        "role": issued.role.value,
        "party_id": issued.party_id,
    }


@router.get(
    "/v1/tokens",
    response_model=TokenList,
    responses=problems(401, 403, 422, 429),
    summary="List tokens (admin; never their secrets)",
)
def list_tokens(
    principal: AdminPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
) -> Any:
    """A page of tokens, oldest first: id, role, party and whether it is revoked."""
    items, next_cursor = services.tokens.page(limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.delete(
    "/v1/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 422, 429),
    summary="Revoke a token (admin)",
)
def revoke_token(token_id: TokenId, principal: AdminPrincipal, services: ServicesDep) -> Response:
    """Revoke a token: it authenticates nothing from now on."""
    services.tokens.revoke(token_id)
    return Response(status_code=204)
