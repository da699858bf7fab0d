"""Networks of networks: memberships asked for, accepted, rejected, ended and corrected; a
network's members and a party's networks on a day, as known now or at a recorded moment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from tris.application.readmodels.queries.networks import MembershipQuestion
from tris.application.readmodels.queries.paging import MAX_LIMIT
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.interfaces.http.deps import (
    BoundedCursor,
    Command,
    CurrentPrincipal,
    ServicesDep,
    anyone,
    command_context,
)
from tris.interfaces.http.responses import (
    ETAG_DOC,
    LOCATION_DOC,
    POSITION_DOC,
    READ,
    VERSIONED_WRITE,
    WRITE,
    WRITE_HEADERS,
    documented,
    etag,
    read_model_answer,
    respond,
)
from tris.interfaces.http.routers.listings import MinPosition, consistent
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.common import IsoDay, IsoMoment
from tris.interfaces.http.schemas.networks import (
    MemberList,
    MembershipCorrection,
    MembershipCreate,
    MembershipEnd,
    MembershipList,
    MembershipRejection,
    MembershipView,
    NetworkList,
)

router = APIRouter(prefix="/v1/parties", tags=["networks"], route_class=OffLoopRoute)

PartyId = Annotated[str, Path(max_length=100, description="The party's id")]
NetworkId = Annotated[str, Path(max_length=100, description="The network's id")]
MembershipId = Annotated[str, Path(max_length=100, description="The membership's id")]
# A change of an existing membership: If-Match (its version) and Idempotency-Key.
MembershipChange = Annotated[CommandContext, Depends(command_context(anyone, if_match=True))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = BoundedCursor


@router.post(
    "/{network_id}/memberships",
    status_code=201,
    response_model=MembershipView,
    responses=documented(201, *WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Ask for a membership (the network or the member), or record one (admin)",
)
def request_membership(
    network_id: NetworkId,
    body: MembershipCreate,
    ctx: Command,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Pending until the other side accepts; active at once when an admin records it (to
    import history). A membership that would put a network inside itself on any day → 409."""
    outcome = services.networks.request(ctx, network_id, body.terms(network_id))
    location = f"/v1/parties/{network_id}/memberships/{outcome.body['id']}"
    return respond(response, outcome, location=location)


@router.get(
    "/{network_id}/memberships",
    response_model=MembershipList,
    responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="A network's memberships",
)
def list_memberships(
    network_id: NetworkId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    status: Annotated[str | None, Query(description="pending, active, rejected or ended")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Any:
    """Every membership of the network, in the order it was asked for."""
    consistent(services, response, min_position)
    page = services.queries.memberships(network_id, status=status, limit=limit, cursor=cursor)
    return read_model_answer(response, page)


@router.get(
    "/{network_id}/memberships/{membership_id}",
    response_model=MembershipView,
    responses=documented(200, *READ, 422, headers=ETAG_DOC),
    summary="Read a membership",
)
def read_membership(
    network_id: NetworkId,
    membership_id: MembershipId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
) -> Any:
    """The membership with its version (If-Match of its changes)."""
    return etag(response, services.networks.get(network_id, membership_id))


def _change(summary: str) -> dict[str, Any]:
    return {
        "status_code": 200,
        "response_model": MembershipView,
        "responses": documented(200, *VERSIONED_WRITE, headers=WRITE_HEADERS),
        "summary": summary,
    }


@router.post(
    "/{network_id}/memberships/{membership_id}/acceptance",
    **_change("Accept a membership (the side that did not ask)"),
)
def accept(
    network_id: NetworkId,
    membership_id: MembershipId,
    ctx: MembershipChange,
    services: ServicesDep,
    response: Response,
) -> Any:
    """The membership enters the graph, unless it would close a circle (409)."""
    return respond(response, services.networks.accept(ctx, network_id, membership_id))


@router.post(
    "/{network_id}/memberships/{membership_id}/rejection",
    **_change("Reject a membership (the side that did not ask)"),
)
def reject(
    network_id: NetworkId,
    membership_id: MembershipId,
    ctx: MembershipChange,
    services: ServicesDep,
    response: Response,
    body: MembershipRejection | None = None,
) -> Any:
    """The request is rejected, with an optional reason."""
    reason = body.reason if body is not None else ""
    return respond(response, services.networks.reject(ctx, network_id, membership_id, reason))


@router.post(
    "/{network_id}/memberships/{membership_id}/end",
    **_change("End a membership (either side)"),
)
def end(
    network_id: NetworkId,
    membership_id: MembershipId,
    body: MembershipEnd,
    ctx: MembershipChange,
    services: ServicesDep,
    response: Response,
) -> Any:
    """The membership's last day, and why."""
    outcome = services.networks.end(ctx, network_id, membership_id, body.valid_to, body.reason)
    return respond(response, outcome)


@router.post(
    "/{network_id}/memberships/{membership_id}/correction",
    **_change("Correct a membership's period (either side, or admin)"),
)
def correct(
    network_id: NetworkId,
    membership_id: MembershipId,
    body: MembershipCorrection,
    ctx: MembershipChange,
    services: ServicesDep,
    response: Response,
) -> Any:
    """A corrected period is an event too; it is checked for circles like a new one."""
    outcome = services.networks.correct(
        ctx, network_id, membership_id, body.valid_from, body.valid_to, body.reason
    )
    return respond(response, outcome)


AsOf = Annotated[IsoDay | None, Query(description="The day asked about (default: today)")]
RecordedAsOf = Annotated[
    IsoMoment | None,
    Query(description="What TRIS knew at this moment (RFC 3339 with offset); default: now"),
]
Transitive = Annotated[bool, Query(description="Follow member networks")]


@dataclass(frozen=True)
class Asked:
    """The question of a members or networks request, and its page."""

    as_of: date | None
    recorded_as_of: datetime | None
    transitive: bool
    limit: int
    cursor: str | None


def asked(
    as_of: AsOf = None,
    transitive: Transitive = False,
    recorded_as_of: RecordedAsOf = None,
    limit: Limit = 500,
    cursor: Cursor = None,
) -> Asked:
    """The query parameters shared by the members and the networks of a party."""
    return Asked(as_of, recorded_as_of, transitive, limit, cursor)


Question = Annotated[Asked, Depends(asked)]


def _answer(
    services: Services,
    response: Response,
    walk: Callable[[str, MembershipQuestion], list[dict[str, Any]]],
    party_id: str,
    question: Asked,
    min_position: int | None,
) -> Response:
    consistent(services, response, min_position)
    services.networks.require_party(party_id)
    day = question.as_of or services.agreements.today()
    items = walk(party_id, MembershipQuestion(day, question.recorded_as_of, question.transitive))
    start = (
        0 if question.cursor is None else services.queries.cursors.decode(question.cursor, int)[0]
    )
    page = items[start : start + question.limit]
    more = len(items) > start + question.limit
    moment = question.recorded_as_of
    return read_model_answer(
        response,
        {
            "as_of": day.isoformat(),
            "recorded_as_of": moment.isoformat() if moment else None,
            "transitive": question.transitive,
            "items": page,
            "next_cursor": (
                services.queries.cursors.encode(start + question.limit) if more else None
            ),
        },
    )


@router.get(
    "/{network_id}/members",
    response_model=MemberList,
    responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="A network's members on a day",
)
def members(
    network_id: NetworkId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    question: Question,
    min_position: MinPosition = None,
) -> Any:
    """Who was a member on `as_of`; with `transitive`, members of member networks too
    (each says `via` which network); with `recorded_as_of`, as TRIS knew it then."""
    walk = services.queries.members
    return _answer(services, response, walk, network_id, question, min_position)


@router.get(
    "/{party_id}/networks",
    response_model=NetworkList,
    responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="The networks a party belongs to on a day",
)
def networks(
    party_id: PartyId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    question: Question,
    min_position: MinPosition = None,
) -> Any:
    """The networks it belonged to on `as_of`; with `transitive`, their networks too."""
    walk = services.queries.networks
    return _answer(services, response, walk, party_id, question, min_position)
