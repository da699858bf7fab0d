"""What everyone reads without a token: published agreements, parties, networks, figures.

An agreement is published when the revision in force says `publication: public` (the
parties' signatures are the consent). Each public read is the token route's own endpoint,
mirrored under `/v1/public/` with the reader replaced by the public principal, so the two
can never drift apart: the same answers, with the public's visibility (published agreements
only, never contacts). Markets' public routes live with the markets.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.routing import APIRoute

from tris.application.access import PUBLIC, Principal
from tris.interfaces.http.deps import Anonymous, ServicesDep
from tris.interfaces.http.responses import POSITION_DOC, documented, problems, read_model_answer
from tris.interfaces.http.routers import agreements, integrity, listings, networks, ocds, parties
from tris.interfaces.http.routers import revisions as revision_routes
from tris.interfaces.http.routers.listings import MinPosition, Network, NetworkDay, consistent
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.listings import StatsView

router = APIRouter(
    prefix="/v1/public", tags=["public"], dependencies=[Anonymous], route_class=OffLoopRoute
)

UNPUBLISHED = "Published agreements only: anything else answers 404, as if it did not exist."


def public_reader() -> Principal:
    """The principal of a request without a token."""
    return PUBLIC


async def _public_reader_from_request(request: Request) -> Principal:
    return PUBLIC


public_reader.from_request = _public_reader_from_request  # type: ignore[attr-defined]


PublicReader = Annotated[Principal, Depends(public_reader)]
# Ids are UUIDs: anything longer is refused (422) before it is looked up.
PublicId = Annotated[str, Path(min_length=1, max_length=100)]
ID_PARAMETERS = {"agreement_id", "party_id", "network_id"}

# (token route's path, what the public page of the API says about it)
MIRRORED = (
    ("/v1/agreements", "Published agreements, newest first, with the list's filters."),
    ("/v1/agreements/{agreement_id}", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/history", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/revisions", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/revisions/{number}", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/revisions/{number}/diff", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/revisions/{number}/signing-payload", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/verification", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/evidence", UNPUBLISHED),
    ("/v1/agreements/{agreement_id}/ocds", UNPUBLISHED),
    ("/v1/parties/{party_id}", "A party's public profile (never its contact persons)."),
    ("/v1/parties/{network_id}/members", "A network's members on a day."),
    ("/v1/parties/{party_id}/networks", "The networks a party belongs to on a day."),
)
SOURCES = (
    listings.router,
    agreements.router,
    revision_routes.router,
    integrity.router,
    ocds.router,
    parties.router,
    networks.router,
)
# Answers that need a token: a public route never gives them.
TOKEN_STATUSES = {401, 403, "401", "403"}


def _get_route(path: str) -> APIRoute:
    for source in SOURCES:
        for route in source.routes:
            if (
                isinstance(route, APIRoute)
                and route.path == path
                and "GET" in (route.methods or ())
            ):
                return route
    raise LookupError(f"no GET route {path} to mirror")


def mirror(path: str, description: str) -> None:
    """Serve the token route at `path` under /v1/public/ to the public principal."""
    route = _get_route(path)
    signature = inspect.signature(route.endpoint, eval_str=True)
    parameters = [
        p.replace(annotation=PublicReader)
        if p.name == "principal"
        else p.replace(annotation=PublicId)
        if p.name in ID_PARAMETERS and p.annotation is str
        else p
        for p in signature.parameters.values()
    ]
    if not any(p.name == "principal" for p in parameters):
        raise LookupError(f"route {path} takes no principal to replace")
    # The route's own function (its route runs it off the loop, ADR 37; so does this one's).
    original = inspect.unwrap(route.endpoint)

    def endpoint(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs)

    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = f"public_{original.__name__}"
    router.add_api_route(
        path.removeprefix("/v1"),
        endpoint,
        methods=["GET"],
        response_model=route.response_model,
        response_class=route.response_class,
        response_model_exclude_unset=route.response_model_exclude_unset,
        responses={
            **problems(422),
            **{k: v for k, v in route.responses.items() if k not in TOKEN_STATUSES},
        },
        summary=f"{route.summary} (public)",
        description=description,
        operation_id=f"public_{route.unique_id}",
    )


for _path, _description in MIRRORED:
    mirror(_path, _description)


@router.get(
    "/stats",
    response_model=StatsView,
    responses=documented(200, 422, 429, 503, headers=POSITION_DOC),
    summary="Sector statistics over published agreements (public)",
)
def public_stats(
    services: ServicesDep,
    response: Response,
    network: Network = None,
    as_of: NetworkDay = None,
    min_position: MinPosition = None,
) -> Any:
    """`/v1/stats` over the published agreements only."""
    consistent(services, response, min_position)
    figures = services.queries.stats(network, as_of, published_only=True)
    return read_model_answer(response, figures)
