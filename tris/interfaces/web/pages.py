"""The portal's pages: what the public reads, and (under /audit) what a signed-in token reads.

Every page reads through the same application services as the API, as its viewer: the
public principal on the public pages (published agreements only, never personal data), the
signed-in token's principal under /audit. No page needs JavaScript; the live market tally
refreshes itself where scripts run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any, Concatenate, ParamSpec
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from tris.application.access import PUBLIC
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.application.readmodels.queries.markets import MarketFilter
from tris.application.readmodels.queries.networks import MembershipQuestion
from tris.bootstrap import Services
from tris.domain.errors import (
    AgreementNotFoundError,
    InvalidInputError,
    RevisionNotFoundError,
    TrisError,
)
from tris.domain.proofs.record import CONTENT_EVENTS
from tris.interfaces.http.deps import Anonymous, ServicesDep
from tris.interfaces.http.errors import status_for
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.web import charts
from tris.interfaces.web.render import Page

# Public pages are charged to the client's address, as the public API is.
router = APIRouter(include_in_schema=False, dependencies=[Anonymous], route_class=OffLoopRoute)

PAGE_SIZE = 25
# The events that write a new revision, in the order they number them.
Text = Annotated[str | None, Query(max_length=200)]


def guarded(page: Page, build: Callable[[], Response]) -> Response:
    """The page, or an error page with the status the API would answer (never a trace)."""
    try:
        return build()
    except TrisError as error:
        status = status_for(error)
        if status == 404 or isinstance(error, AgreementNotFoundError):
            return page.render("error.html", 404, message=None)
        return page.render("error.html", status, message=str(error))


P = ParamSpec("P")


def reads_once(
    build: Callable[Concatenate[Page, Services, P], Response],
) -> Callable[Concatenate[Page, Services, P], Response]:
    """A page that loads each aggregate once, however many parts of it show one (the
    view, the revisions, the history, the verification of an agreement)."""

    def once(page: Page, services: Services, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        with services.store.reading():
            return build(page, services, *args, **kwargs)

    return functools.update_wrapper(once, build)


class Names:
    """Party names for a page, each party read once."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.known: dict[str, dict[str, Any]] = {}

    def party(self, party_id: str) -> dict[str, Any]:
        """The party's public profile (a placeholder for an unknown id)."""
        if party_id not in self.known:
            try:
                self.known[party_id] = self.services.parties.get(PUBLIC, party_id)
            except TrisError:
                self.known[party_id] = {"id": party_id, "name": party_id, "sector": None}
        return self.known[party_id]

    def __call__(self, party_id: str | None) -> str:
        return "" if party_id is None else str(self.party(party_id)["name"])


# ------------------------------------------------------------------------------- home


def home_page(page: Page, services: Services) -> Response:
    """Headline figures and charts over what is published."""
    stats = services.queries.stats(published_only=True)
    markets = services.queries.markets(MarketFilter(status="closed"), limit=10)["items"]
    rates = []
    for market in markets:
        figures = services.queries.market_stats(market["id"])
        rates.append((market, figures))
    return page.render(
        "home.html",
        stats=stats,
        mix_chart=charts.bars(stats["agreements"]["by_sector_mix"]),
        status_chart=charts.bars(stats["agreements"]["by_status"]),
        commitment_chart=charts.pairs(stats["commitments"]["by_kind_and_unit"]),
        month_chart=charts.months(stats["agreements"]["by_concluded_month"]),
        market_rates=charts.rates(rates),
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, services: ServicesDep) -> Response:
    """The portal's front page."""
    page = Page.of(request)
    return guarded(page, lambda: home_page(page, services))


# ------------------------------------------------------------------------- agreements


def agreements_page(
    page: Page, services: Services, filters: AgreementFilter, cursor: str | None
) -> Response:
    """The list with the API's filters and text search, a page at a time."""
    try:
        found = services.queries.agreements(page.viewer, filters, limit=PAGE_SIZE, cursor=cursor)
        problem = None
    except InvalidInputError as error:
        found, problem = {"items": [], "next_cursor": None}, str(error)
    return page.render(
        "agreements.html",
        filters=filters,
        found=found,
        problem=problem,
        cursor=cursor,
        names=Names(services),
    )


def list_filters(
    q: Text = None,
    status: Text = None,
    sector_mix: Text = None,
    sector: Text = None,
    region: Text = None,
    party: Text = None,
    network: Text = None,
) -> AgreementFilter:
    """The list's filters from the form and from links (an empty field is no filter)."""
    return AgreementFilter(
        q=q or None,
        status=status or None,
        sector_mix=sector_mix or None,
        sector=sector or None,
        region=region or None,
        party=party or None,
        network=network or None,
    )


Filters = Annotated[AgreementFilter, Depends(list_filters)]


@router.get("/agreements", response_class=HTMLResponse)
def agreements(
    request: Request, services: ServicesDep, filters: Filters, cursor: Text = None
) -> Response:
    """Published agreements."""
    page = Page.of(request)
    return guarded(page, lambda: agreements_page(page, services, filters, cursor or None))


def _signing_times(services: Services, agreement_id: str) -> dict[tuple[int, str], str]:
    """When each party signed each revision: (revision, party) → the event's time."""
    times: dict[tuple[int, str], str] = {}
    for event in services.store.events(UUID(agreement_id)):
        if type(event).__name__ == "Signed":
            times[(int(event.revision), event.actor.party_id)] = event.timestamp.isoformat()
    return times


@reads_once
def record_page(page: Page, services: Services, agreement_id: str) -> Response:
    """The whole verified story of one agreement."""
    view = services.agreements.get(page.viewer, agreement_id)
    reading = services.agreements.read(page.viewer, agreement_id)
    history = services.agreements.history(page.viewer, agreement_id)
    number = 0
    for item in history:  # which revision each content event made, to link its changes
        if item["type"] in CONTENT_EVENTS:
            number += 1
            item["revision"] = number
    try:
        verification: dict[str, Any] | None = services.integrity.verification(
            page.viewer, agreement_id
        )
    except TrisError:
        verification = None  # no checkpoint covers it yet: the badges say so
    names = Names(services)
    return page.render(
        "agreement.html",
        a=view,
        revisions=reading.revisions(),
        history=history,
        verification=verification,
        badges=charts.badges(view, verification),
        names=names,
        evidence_url=(
            f"/audit/evidence/{view['id']}.json"
            if page.base
            else f"/v1/public/agreements/{view['id']}/evidence"
        ),
        ocds_url=(
            f"/audit/ocds/{view['id']}.json"
            if page.base
            else f"/v1/public/agreements/{view['id']}/ocds"
        ),
    )


@router.get("/agreements/{agreement_id}", response_class=HTMLResponse)
def record(request: Request, agreement_id: str, services: ServicesDep) -> Response:
    """One published agreement."""
    page = Page.of(request)
    return guarded(page, lambda: record_page(page, services, agreement_id))


@reads_once
def compare_page(
    page: Page, services: Services, agreement_id: str, old: int | None, new: int | None
) -> Response:
    """Any two revisions side by side: what was deleted, inserted or changed."""
    reading = services.agreements.read(page.viewer, agreement_id)
    view = services.agreements.get(page.viewer, agreement_id)
    latest = int(view["revision"])
    new = latest if new is None else new
    old = max(1, new - 1) if old is None else old
    if not (1 <= old <= latest and 1 <= new <= latest):
        raise RevisionNotFoundError(f"agreement has revisions 1 to {latest}")
    diff = reading.diff(new, old)
    return page.render(
        "compare.html",
        a=view,
        old=old,
        new=new,
        numbers=list(range(1, latest + 1)),
        changes=[charts.change(c) for c in diff["changes"]],
        names=Names(services),
    )


@router.get("/agreements/{agreement_id}/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    agreement_id: str,
    services: ServicesDep,
    old: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    new: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    """Compare two revisions."""
    page = Page.of(request)
    return guarded(page, lambda: compare_page(page, services, agreement_id, old, new))


def fingerprint(public_key_b64: str) -> str:
    """SHA-256 of the raw public key, in groups of four hex digits."""
    digest = hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@reads_once
def certificate_page(page: Page, services: Services, agreement_id: str, number: int) -> Response:
    """A printable certificate: who signed revision `number`, with which key, when."""
    view = services.agreements.get(page.viewer, agreement_id)
    revision = services.agreements.read(page.viewer, agreement_id).revision(number)
    names = Names(services)
    times = _signing_times(services, agreement_id)
    signers = []
    for signature in revision["signatures"]:
        party = names.party(signature["party_id"])
        keys = {k["key_id"]: k for k in party.get("signing_keys", [])}
        key = keys.get(signature["key_id"])
        signers.append(
            {
                "party": party,
                "key_id": signature["key_id"],
                "fingerprint": fingerprint(key["public_key"]) if key else None,
                "signed_at": times.get((number, signature["party_id"])),
            }
        )
    return page.render("certificate.html", a=view, revision=revision, signers=signers, names=names)


@router.get(
    "/agreements/{agreement_id}/revisions/{number}/certificate", response_class=HTMLResponse
)
def certificate(
    request: Request,
    agreement_id: str,
    number: int,
    services: ServicesDep,
) -> Response:
    """A revision's signature certificate."""
    page = Page.of(request)
    return guarded(page, lambda: certificate_page(page, services, agreement_id, number))


@reads_once
def event_page(page: Page, services: Services, agreement_id: str, version: int) -> Response:
    """One stored event as recorded: payload, hashes, position and its inclusion proof."""
    view = services.agreements.get(page.viewer, agreement_id)
    bundle = services.integrity.evidence_bundle(page.viewer, agreement_id, None)
    document = json.loads(b"".join(_bytes(chunk) for chunk in bundle.chunks()))
    events = {int(e["version"]): e for e in document["events"]}
    if version not in events:
        raise AgreementNotFoundError(f"agreement {agreement_id} has no event {version}")
    event = events[version]
    proof = services.integrity.inclusion(int(event["position"]))
    try:
        payload = json.dumps(json.loads(event["state"]), indent=2, ensure_ascii=False)
    except ValueError:
        payload = str(event["state"])
    return page.render(
        "event.html",
        a=view,
        event=event,
        payload=payload,
        proof=proof,
        versions=sorted(events),
        checkpoint=document["checkpoint"],
    )


def _bytes(chunk: bytes | str) -> bytes:
    return chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")


@router.get("/agreements/{agreement_id}/events/{version}", response_class=HTMLResponse)
def event(request: Request, agreement_id: str, version: int, services: ServicesDep) -> Response:
    """A raw event."""
    page = Page.of(request)
    return guarded(page, lambda: event_page(page, services, agreement_id, version))


# ------------------------------------------------------------------ parties, networks


def party_page(page: Page, services: Services, party_id: str) -> Response:
    """A party's public profile, its networks and its published agreements."""
    party = services.parties.get(PUBLIC, party_id)
    question = MembershipQuestion(as_of=services.queries.today())
    networks = services.queries.networks(party_id, question)
    members = services.queries.members(party_id, question) if party.get("network") else []
    found = services.queries.agreements(
        page.viewer, AgreementFilter(party=party_id), limit=PAGE_SIZE
    )
    return page.render(
        "party.html",
        party=party,
        networks=networks,
        members=members,
        agreements=found["items"],
        names=Names(services),
    )


@router.get("/parties/{party_id}", response_class=HTMLResponse)
def party(request: Request, party_id: str, services: ServicesDep) -> Response:
    """A party."""
    page = Page.of(request)
    return guarded(page, lambda: party_page(page, services, party_id))


def network_page(page: Page, services: Services, network_id: str) -> Response:
    """A network's memberships over time."""
    party = services.parties.get(PUBLIC, network_id)
    memberships = services.queries.memberships(network_id, limit=200)
    return page.render(
        "network.html",
        party=party,
        memberships=memberships["items"],
        names=Names(services),
        timeline=charts.memberships(memberships["items"]),
    )


@router.get("/networks/{network_id}", response_class=HTMLResponse)
def network(request: Request, network_id: str, services: ServicesDep) -> Response:
    """A network."""
    page = Page.of(request)
    return guarded(page, lambda: network_page(page, services, network_id))


# --------------------------------------------------------------------------- markets


def markets_page(page: Page, services: Services) -> Response:
    """Every market, latest first."""
    found = services.queries.markets(MarketFilter(), limit=100)
    return page.render("markets.html", markets=found["items"])


@router.get("/markets", response_class=HTMLResponse)
def markets(request: Request, services: ServicesDep) -> Response:
    """Markets."""
    page = Page.of(request)
    return guarded(page, lambda: markets_page(page, services))


def market_page(page: Page, services: Services, market_id: str) -> Response:
    """One market, its tally (live while open), offers and needs."""
    market = services.markets.get(market_id)
    stats = services.queries.market_stats(market_id)
    offers = services.queries.postings(market_id, "offer", limit=100)["items"]
    needs = services.queries.postings(market_id, "need", limit=100)["items"]
    return page.render(
        "market.html",
        market=market,
        stats=stats,
        offers=offers,
        needs=needs,
        names=Names(services),
    )


@router.get("/markets/{market_id}", response_class=HTMLResponse)
def market(request: Request, market_id: str, services: ServicesDep) -> Response:
    """A market."""
    page = Page.of(request)
    return guarded(page, lambda: market_page(page, services, market_id))
