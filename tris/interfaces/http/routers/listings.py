"""Read-model queries: the agreement list, a party's commitments, sector statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.application.readmodels.queries.paging import MAX_LIMIT
from tris.bootstrap import Services
from tris.domain.errors import InvalidInputError
from tris.interfaces.http.deps import CurrentPrincipal, ServicesDep
from tris.interfaces.http.errors import ReadModelsBehindError
from tris.interfaces.http.responses import (
    POSITION_DOC,
    POSITION_HEADER,
    documented,
    read_model_answer,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.common import IsoDay
from tris.interfaces.http.schemas.listings import AgreementList, PartyCommitmentList, StatsView

router = APIRouter(tags=["read models"], route_class=OffLoopRoute)

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**62,
        description="Answer only once the read models include this log position "
        "(from the `X-TRIS-Position` header of a command); 503 if they lag too long",
    ),
]


Network = Annotated[
    str | None,
    Query(max_length=100, description="Agreements with a party that is a member of this network"),
]
NetworkDay = Annotated[
    IsoDay | None,
    Query(description="The day the network's members are taken on (with `network`; default today)"),
]


def consistent(services: Services, response: Response, min_position: int | None) -> None:
    """Wait (bounded) until the read models passed `min_position`; say where they are."""
    reached(services, min_position)
    response.headers[POSITION_HEADER] = str(services.projections.caught_up_to())


def reached(services: Services, min_position: int | None) -> None:
    """Wait (bounded) until the read models passed `min_position` (422 beyond the log,
    503 when they lag too long)."""
    timeout = services.settings.read_your_writes_timeout
    if min_position is not None and min_position > services.projections.head():
        raise InvalidInputError(
            f"min_position {min_position} is beyond the end of the event log; "
            "use the X-TRIS-Position of a command's answer"
        )
    if min_position is not None and not services.projections.wait_for(min_position, timeout):
        raise ReadModelsBehindError(
            f"the read models have not reached position {min_position} yet; retry shortly",
            retry_after=1,
        )


@router.get(
    "/v1/agreements",
    response_model=AgreementList,
    responses=documented(200, 401, 422, 429, 503, headers=POSITION_DOC),
    summary="List and search agreements",
)
def list_agreements(
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    party: Annotated[str | None, Query(max_length=64, description="A party of it")] = None,
    sector: Annotated[
        str | None, Query(description="state, business or civil_society: a party of it")
    ] = None,
    status: Annotated[str | None, Query(description="proposed, in_force, …")] = None,
    sector_mix: Annotated[str | None, Query(description="trisectoral, …")] = None,
    region: Annotated[str | None, Query(max_length=200, description="A party's region")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in title or purpose")] = None,
    network: Network = None,
    as_of: NetworkDay = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    min_position: MinPosition = None,
) -> Any:
    """Agreements newest first; partners see only their own party's agreements. `network`:
    only agreements with a party that is a member of it (through member networks too)."""
    reached(services, min_position)
    filters = AgreementFilter(
        party=party,
        sector=sector,
        status=status,
        sector_mix=sector_mix,
        region=region,
        q=q,
        network=network,
        network_as_of=as_of,
    )
    tracked: dict[str, int] = {}  # where the read models were as the page was read
    page = services.queries.agreements(
        principal, filters, limit=limit, cursor=cursor, tracked=tracked
    )
    response.headers[POSITION_HEADER] = str(services.projections.caught_up_to(tracked))
    return read_model_answer(response, page)


@router.get(
    "/v1/parties/{party_id}/commitments",
    response_model=PartyCommitmentList,
    responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="Commitments a party owes and receives",
)
def party_commitments(
    party_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    status: Annotated[
        str | None, Query(description="open, partially_fulfilled, fulfilled or overdue")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    min_position: MinPosition = None,
) -> Any:
    """For that party and for auditors; `overdue` is judged against today's date."""
    consistent(services, response, min_position)
    page = services.queries.party_commitments(
        principal, party_id, status=status, limit=limit, cursor=cursor
    )
    return read_model_answer(response, page)


@router.get(
    "/v1/stats",
    response_model=StatsView,
    responses=documented(200, 401, 422, 429, 503, headers=POSITION_DOC),
    summary="Sector statistics",
)
def stats(
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    network: Network = None,
    as_of: NetworkDay = None,
    min_position: MinPosition = None,
) -> Any:
    """Agreements by sector mix and status; commitments committed vs fulfilled, by month.
    `network`: only agreements with a party that is a member of it (transitively)."""
    consistent(services, response, min_position)
    return read_model_answer(response, services.queries.stats(network, as_of))
