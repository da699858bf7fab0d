"""Open Contracting (OCDS 1.1.5): an agreement's release package; a published agreement's
record (under /v1/public/, mirrored there with the other public reads)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from tris.application.access import PUBLIC
from tris.interfaces.http.deps import AgreementReader, Anonymous, ServicesDep
from tris.interfaces.http.responses import READ, problems
from tris.interfaces.http.routing import OffLoopRoute

router = APIRouter(tags=["open contracting"], route_class=OffLoopRoute)
public = APIRouter(
    prefix="/v1/public", tags=["public"], dependencies=[Anonymous], route_class=OffLoopRoute
)

OCDS_PACKAGE = {
    "description": "An OCDS 1.1.5 package (valid against the official schema)",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
Ocid = Annotated[str, Path(min_length=1, max_length=200, description="`{prefix}-{agreement id}`")]


@router.get(
    "/v1/agreements/{agreement_id}/ocds",
    responses={200: OCDS_PACKAGE, **problems(*READ, 403, 422)},
    summary="The agreement as an OCDS release package (one release per version)",
)
def release_package(
    agreement_id: str, principal: AgreementReader, services: ServicesDep, request: Request
) -> Any:
    """Parties and auditors: every version of the agreement as an OCDS release, with
    parties, the contract and its items, amendments, milestones and signatures."""
    uri = str(request.url.remove_query_params(["lang"]))
    return services.open_contracting.release_package(principal, agreement_id, uri)


@public.get(
    "/ocds/records/{ocid}",
    responses={200: OCDS_PACKAGE, **problems(404, 422, 429)},
    summary="A published agreement's OCDS record (public)",
)
def record_package(ocid: Ocid, services: ServicesDep, request: Request) -> Any:
    """The record package of a published agreement: its releases and the compiled release
    merged by the Open Contracting Partnership's `ocdsmerge`."""
    return services.open_contracting.record_package(PUBLIC, ocid, str(request.url))
