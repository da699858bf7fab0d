"""Data subjects: erasing a contact person's personal data (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tris.interfaces.http.deps import AdminPrincipal, PlainCommand, ServicesDep
from tris.interfaces.http.responses import POSITION_DOC, documented, respond
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.persons import PersonalDataErasure

router = APIRouter(prefix="/v1/persons", tags=["personal data"], route_class=OffLoopRoute)


@router.delete(
    "/{person_id}/personal-data",
    response_model=PersonalDataErasure,
    responses=documented(200, 401, 403, 404, 429, headers=POSITION_DOC),
    summary="Erase a contact person's personal data (admin)",
)
def erase_personal_data(
    person_id: str,
    principal: AdminPrincipal,
    ctx: PlainCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Destroy the person's key (crypto-shredding); repeating it changes nothing.

    Events, hash chains and proofs stay valid; every view shows the person as erased.
    """
    outcome = services.parties.erase_personal_data(ctx, person_id)
    return respond(response, outcome)
