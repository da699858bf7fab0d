"""Parties: registration (admins) and reading (any token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from tris.interfaces.http.deps import Command, CurrentPrincipal, ServicesDep, require_admin
from tris.interfaces.http.responses import (
    COMMAND_DOC,
    LOCATION_DOC,
    READ,
    WRITE,
    documented,
    problems,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.parties import PartyCreate, PartyList, PartyView

router = APIRouter(prefix="/v1/parties", tags=["parties"], route_class=OffLoopRoute)

MAX_PAGE = 500


@router.post(
    "",
    status_code=201,
    response_model=PartyView,
    response_model_exclude_unset=True,
    dependencies=[Depends(require_admin)],
    responses=documented(201, *WRITE, headers={**LOCATION_DOC, **COMMAND_DOC}),
    summary="Register a party (admin)",
)
def register_party(
    body: PartyCreate, ctx: Command, services: ServicesDep, response: Response
) -> Any:
    """Register an organisation; each contact person gets an `id` (its person id)."""
    outcome = services.parties.register(ctx, body.details(), body.contact_values())
    return respond(response, outcome, location=f"/v1/parties/{outcome.body['id']}")


@router.get(
    "",
    response_model=PartyList,
    response_model_exclude_unset=True,
    responses=problems(401, 422, 429),
    summary="List parties in registration order",
)
def list_parties(
    principal: CurrentPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    """A page of parties; contacts only where the token may see them."""
    items, next_cursor = services.parties.page(principal, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{party_id}",
    response_model=PartyView,
    response_model_exclude_unset=True,
    responses=problems(*READ),
    summary="Read a party",
)
def read_party(party_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """One party; contacts for admins, auditors and the party itself."""
    return services.parties.get(principal, party_id)
