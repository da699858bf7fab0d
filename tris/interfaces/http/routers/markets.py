"""Markets: schedule and run a market, post offers and needs, make deals, notarise, and
read a market's offers, needs, stats (also live) and follow-ups."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tris.application.access import Principal, Role
from tris.application.opendata.notifier import Revalidation
from tris.application.readmodels.queries.markets import MarketFilter
from tris.application.readmodels.queries.paging import MAX_LIMIT
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.domain.errors import NotAnOrganiserError
from tris.domain.market.posting import PostingSide
from tris.interfaces.http.deps import (
    Anonymous,
    BoundedCursor,
    CurrentPrincipal,
    PartnerCommand,
    ServicesDep,
    admin_only,
    command_context,
    partner_only,
)
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    ETAG_DOC,
    LOCATION_DOC,
    POSITION_DOC,
    READ,
    VERSIONED_WRITE,
    WRITE,
    WRITE_HEADERS,
    documented,
    etag,
    problems,
    read_model_answer,
    respond,
)
from tris.interfaces.http.routers.events import (
    EVENT_STREAM,
    HEARTBEAT_SECONDS,
    POLL_SECONDS,
    RETRY_MILLISECONDS,
    may_open_stream,
)
from tris.interfaces.http.routers.listings import MinPosition, consistent
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.agreements import AgreementView
from tris.interfaces.http.schemas.common import IsoDay
from tris.interfaces.http.schemas.markets import (
    CancellationCreate,
    DealCreate,
    DealView,
    FollowUpList,
    MarketCreate,
    MarketList,
    MarketStatsView,
    MarketView,
    NotarisationCreate,
    ParticipantCreate,
    PostingCreate,
    PostingList,
    PostingView,
    PostingWithdrawal,
)

router = APIRouter(tags=["markets"], route_class=OffLoopRoute)
public = APIRouter(
    prefix="/v1/public", tags=["public"], dependencies=[Anonymous], route_class=OffLoopRoute
)

AdminCommand = Annotated[CommandContext, Depends(command_context(admin_only))]
# An organiser's (or participant's) change of an existing market, offer or need.
PartnerChange = Annotated[CommandContext, Depends(command_context(partner_only, if_match=True))]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
MarketId = Annotated[str, Path(max_length=100, description="The market's id")]
Cursor = BoundedCursor
SIDES = {"offers": PostingSide.OFFER, "needs": PostingSide.NEED}
MARKET_WRITE = VERSIONED_WRITE


# ----------------------------------------------------------------- the market


@router.post(
    "/v1/markets",
    status_code=201,
    response_model=MarketView,
    responses=documented(201, *WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Schedule a market (admin)",
)
def schedule(
    body: MarketCreate, ctx: AdminCommand, services: ServicesDep, response: Response
) -> Any:
    """A Marktplatz, action day or round table with its organisers, brokers and notaries."""
    outcome = services.markets.schedule(ctx, body.plan())
    return respond(response, outcome, location=f"/v1/markets/{outcome.body['id']}")


Region = Annotated[str | None, Query(max_length=200, description="The market's region")]
Format = Annotated[str | None, Query(description="marketplace, action_day or round_table")]
Status = Annotated[str | None, Query(description="planned, open, closed or cancelled")]
On = Annotated[IsoDay | None, Query(alias="date", description="A day the market runs on")]


@dataclass(frozen=True)
class MarketPageQuery:
    """The filters and page of a market list, as the query string gives them."""

    filters: MarketFilter
    limit: int
    cursor: str | None


def market_page(
    region: Region = None,
    format: Format = None,
    status: Status = None,
    on: On = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MarketPageQuery:
    """The list's query parameters, shared by the token and the public list."""
    filters = MarketFilter(region=region, format=format, status=status, on=on)
    return MarketPageQuery(filters, limit, cursor)


MarketPage = Annotated[MarketPageQuery, Depends(market_page)]


def _market_list(
    services: Services, response: Response, page: MarketPageQuery, min_position: int | None
) -> Response:
    consistent(services, response, min_position)
    answer = services.queries.markets(page.filters, limit=page.limit, cursor=page.cursor)
    return read_model_answer(response, answer)


@router.get(
    "/v1/markets",
    response_model=MarketList,
    responses=documented(200, 401, 422, 429, 503, headers=POSITION_DOC),
    summary="List markets",
)
def list_markets(
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    page: MarketPage,
    min_position: MinPosition = None,
) -> Any:
    """Markets, latest scheduled first, filtered by region, format, status and date."""
    return _market_list(services, response, page, min_position)


@public.get(
    "/markets",
    response_model=MarketList,
    responses=documented(200, 422, 429, 503, headers=POSITION_DOC),
    summary="List markets (public)",
)
def list_public_markets(services: ServicesDep, response: Response, page: MarketPage) -> Any:
    """Markets are public: where and when they take place, and who runs them."""
    return _market_list(services, response, page, None)


@router.get(
    "/v1/markets/{market_id}",
    response_model=MarketView,
    responses=documented(200, *READ, 422, headers=ETAG_DOC),
    summary="Read a market",
)
def read_market(
    market_id: MarketId, principal: CurrentPrincipal, services: ServicesDep, response: Response
) -> Any:
    """The market with its organisers, brokers, notaries and participants."""
    return etag(response, services.markets.get(market_id))


@public.get(
    "/markets/{market_id}",
    response_model=MarketView,
    responses=documented(200, 404, 422, 429, headers=ETAG_DOC),
    summary="Read a market (public)",
)
def read_public_market(market_id: MarketId, services: ServicesDep, response: Response) -> Any:
    """The market with its organisers, brokers, notaries and participants."""
    return etag(response, services.markets.get(market_id))


def _change(summary: str, model: Any = MarketView) -> dict[str, Any]:
    return {
        "status_code": 200,
        "response_model": model,
        "responses": documented(200, *MARKET_WRITE, headers=WRITE_HEADERS),
        "summary": summary,
    }


@router.post("/v1/markets/{market_id}/participants", **_change("Admit a participant (organiser)"))
def admit(
    market_id: MarketId,
    body: ParticipantCreate,
    ctx: PartnerChange,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Admit a registered party (If-Match: the market's version)."""
    return respond(response, services.markets.admit(ctx, market_id, body.party_id))


@router.post("/v1/markets/{market_id}/opening", **_change("Open trading (organiser)"))
def open_market(
    market_id: MarketId, ctx: PartnerChange, services: ServicesDep, response: Response
) -> Any:
    """planned → open (If-Match)."""
    return respond(response, services.markets.open(ctx, market_id))


@router.post("/v1/markets/{market_id}/closing", **_change("Close trading (organiser)"))
def close_market(
    market_id: MarketId, ctx: PartnerChange, services: ServicesDep, response: Response
) -> Any:
    """open → closed, the closing gong (If-Match)."""
    return respond(response, services.markets.close(ctx, market_id))


@router.post("/v1/markets/{market_id}/cancellation", **_change("Cancel a market (organiser)"))
def cancel_market(
    market_id: MarketId,
    ctx: PartnerChange,
    services: ServicesDep,
    response: Response,
    body: CancellationCreate | None = None,
) -> Any:
    """planned or open → cancelled, with an optional reason (If-Match)."""
    reason = body.reason if body is not None else ""
    return respond(response, services.markets.cancel(ctx, market_id, reason))


# ----------------------------------------------------------- offers and needs


def _post(side: PostingSide) -> Any:
    def post(
        market_id: MarketId,
        body: PostingCreate,
        ctx: PartnerCommand,
        services: ServicesDep,
        response: Response,
    ) -> Any:
        outcome = services.markets.post(ctx, market_id, side, body.draft())
        path = f"/v1/markets/{market_id}/{side.value}s/{outcome.body['id']}"
        return respond(response, outcome, location=path)

    post.__doc__ = (
        f"A participant posts an {side.value} for its own party, while the market is planned "
        "or open; no If-Match: posting never writes the market."
        if side is PostingSide.OFFER
        else f"A participant posts a {side.value} for its own party, while the market is "
        "planned or open; no If-Match: posting never writes the market."
    )
    return post


def _list(side: PostingSide) -> Any:
    def listing(
        market_id: MarketId,
        principal: CurrentPrincipal,
        services: ServicesDep,
        response: Response,
        status: Annotated[str | None, Query(description="open, matched or withdrawn")] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Any:
        consistent(services, response, min_position)
        page = services.queries.postings(
            market_id, side.value, status=status, limit=limit, cursor=cursor
        )
        return read_model_answer(response, page)

    listing.__doc__ = f"The market's {side.value}s in the order they were posted."
    return listing


def _read(side: PostingSide) -> Any:
    def read(
        market_id: MarketId,
        posting_id: str,
        principal: CurrentPrincipal,
        services: ServicesDep,
        response: Response,
    ) -> Any:
        return etag(response, services.markets.posting(market_id, side, posting_id))

    read.__doc__ = f"One {side.value}, with its version (If-Match of its withdrawal)."
    return read


def _withdraw(side: PostingSide) -> Any:
    def withdraw(
        market_id: MarketId,
        posting_id: str,
        ctx: PartnerChange,
        services: ServicesDep,
        response: Response,
        body: PostingWithdrawal | None = None,
    ) -> Any:
        reason = body.reason if body is not None else ""
        return respond(
            response, services.markets.withdraw(ctx, market_id, side, posting_id, reason)
        )

    withdraw.__doc__ = f"Its participant withdraws an open {side.value} (If-Match: its version)."
    return withdraw


for _path, _side in SIDES.items():
    router.add_api_route(
        f"/v1/markets/{{market_id}}/{_path}",
        _post(_side),
        methods=["POST"],
        status_code=201,
        response_model=PostingView,
        responses=documented(201, *WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
        summary=f"Post an {_side.value} (participant, for itself)"
        if _side is PostingSide.OFFER
        else f"Post a {_side.value} (participant, for itself)",
        name=f"post_{_side.value}",
    )
    router.add_api_route(
        f"/v1/markets/{{market_id}}/{_path}",
        _list(_side),
        methods=["GET"],
        response_model=PostingList,
        responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
        summary=f"List the market's {_path}",
        name=f"list_{_path}",
    )
    router.add_api_route(
        f"/v1/markets/{{market_id}}/{_path}/{{posting_id}}",
        _read(_side),
        methods=["GET"],
        response_model=PostingView,
        responses=documented(200, *READ, 422, headers=ETAG_DOC),
        summary=f"Read one {_side.value}",
        name=f"read_{_side.value}",
    )
    router.add_api_route(
        f"/v1/markets/{{market_id}}/{_path}/{{posting_id}}/withdrawal",
        _withdraw(_side),
        methods=["POST"],
        response_model=PostingView,
        responses=documented(200, *MARKET_WRITE, headers=WRITE_HEADERS),
        summary=f"Withdraw an open {_side.value} (its participant)",
        name=f"withdraw_{_side.value}",
    )


# ---------------------------------------------------------- deals, notaries


@router.post(
    "/v1/markets/{market_id}/deals",
    status_code=201,
    response_model=DealView,
    responses=documented(201, *WRITE, headers={**WRITE_HEADERS, **LOCATION_DOC}),
    summary="Make a deal (a broker, or a participant among its parties)",
)
def make_deal(
    market_id: MarketId,
    body: DealCreate,
    ctx: PartnerCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """While the market is open: propose the deal's agreement and mark its offer and need
    matched, in one transaction. The agreement is then signed like any other."""
    outcome = services.markets.make_deal(ctx, market_id, body.request())
    location = f"/v1/agreements/{outcome.body['agreement_id']}"
    version = outcome.body["agreement"]["version"]
    return respond(response, outcome, location=location, version=version)


@router.post(
    "/v1/agreements/{agreement_id}/notarisation",
    response_model=AgreementView,
    responses=documented(200, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Notarise the revision in force (a notary of the agreement's market)",
    tags=["agreements"],
)
def notarise(
    agreement_id: str,
    body: NotarisationCreate,
    ctx: PartnerChange,
    services: ServicesDep,
    response: Response,
) -> Any:
    """An Ed25519 countersignature over the signing payload of the revision in force."""
    outcome = services.markets.notarise(ctx, agreement_id, body.key_id, body.signature)
    return respond(response, outcome)


# ------------------------------------------------------------ stats, follow-ups


@router.get(
    "/v1/markets/{market_id}/stats",
    response_model=MarketStatsView,
    responses=documented(200, 401, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="A market's evaluation",
)
def market_stats(
    market_id: MarketId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    min_position: MinPosition = None,
) -> Any:
    """Offers, needs, deals, concluded, notarised, completed, the fulfilment rate and the
    committed vs fulfilled quantities by kind and unit."""
    consistent(services, response, min_position)
    return read_model_answer(response, services.queries.market_stats(market_id))


@public.get(
    "/markets/{market_id}/stats",
    response_model=MarketStatsView,
    responses=documented(200, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="A market's evaluation (public)",
)
def public_market_stats(market_id: MarketId, services: ServicesDep, response: Response) -> Any:
    """A market's figures are public: counts and quantities, never who owes what."""
    consistent(services, response, None)
    return read_model_answer(response, services.queries.market_stats(market_id))


@router.get(
    "/v1/markets/{market_id}/stats/live",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {EVENT_STREAM: {"schema": {"type": "object"}}},
            "description": "Server-Sent Events: `event: stats`, `data:` the market's stats as "
            "JSON, sent at once and whenever they change; a comment line every 15 s",
        },
        **problems(401, 404, 422, 429),
    },
    summary="The market's running totals, live (Server-Sent Events)",
)
async def live_market_stats(
    request: Request, market_id: MarketId, principal: CurrentPrincipal, services: ServicesDep
) -> StreamingResponse:
    """For the moderator's screen: the stats now, then each time they change."""
    first = await run_in_threadpool(services.queries.market_stats, market_id)
    may_open_stream(services, principal)
    max_seconds = float(request.app.state.settings.stream_max_seconds)
    return StreamingResponse(
        _live_stats(request, services, principal, market_id, first, max_seconds),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _live_stats(
    request: Request,
    services: Services,
    principal: Principal,
    market_id: MarketId,
    first: dict[str, Any],
    max_seconds: float,
) -> AsyncIterator[str]:
    with services.stream_slots.slot(principal.token_id) as held:
        if not held:
            return
        check = Revalidation(lambda: services.tokens.is_active(principal.token_id))
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        last, sent_at = first, time.monotonic()
        yield _stats_event(first)
        closing_at = sent_at + max_seconds
        # A database read: off the event loop, as every read of the stream.
        seen = await run_in_threadpool(services.projections.caught_up_to)
        while time.monotonic() < closing_at:
            await anyio.sleep(POLL_SECONDS)
            if await request.is_disconnected() or not await run_in_threadpool(check.valid):
                return
            now = await run_in_threadpool(services.projections.caught_up_to)
            if now != seen:
                seen = now
                stats = await run_in_threadpool(services.queries.market_stats, market_id)
                if stats != last:
                    last, sent_at = stats, time.monotonic()
                    yield _stats_event(stats)
                    continue
            if time.monotonic() - sent_at >= HEARTBEAT_SECONDS:
                sent_at = time.monotonic()
                yield ": keep-alive\n\n"


def _stats_event(stats: dict[str, Any]) -> str:
    data = json.dumps(stats, ensure_ascii=False, separators=(",", ":"))
    return f"event: stats\ndata: {data}\n\n"


@router.get(
    "/v1/markets/{market_id}/follow-ups",
    response_model=FollowUpList,
    responses=documented(200, 401, 403, 404, 422, 429, 503, headers=POSITION_DOC),
    summary="Agreements to follow up (organisers, auditors)",
)
def follow_ups(
    market_id: MarketId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    limit: Limit = 100,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Any:
    """Agreements from the market in force without a recorded fulfilment, from 14 days
    after the market closed."""
    if principal.role is Role.RESEARCHER or (
        principal.role is Role.PARTNER
        and principal.party_id not in services.markets.get(market_id)["organisers"]
    ):
        raise NotAnOrganiserError("only the market's organisers and auditors see its follow-ups")
    consistent(services, response, min_position)
    page = services.queries.follow_ups(market_id, limit=limit, cursor=cursor)
    return read_model_answer(response, page)
