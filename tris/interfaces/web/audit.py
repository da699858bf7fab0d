"""The audit pages: the portal's pages for restricted agreements, behind a sign-in.

An auditor (or admin) signs in with its API token and reads every agreement; a partner reads
its own party's. The token is checked once at sign-in and never stored in the browser: the
session cookie names it (signed, HttpOnly, SameSite=Strict) and dies with it when revoked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from tris.application.access import Role
from tris.bootstrap import Services
from tris.interfaces.http.deps import Anonymous, ServicesDep
from tris.interfaces.http.errors import RateLimitedError
from tris.interfaces.http.ratelimit import RateLimiter
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.web import pages
from tris.interfaces.web.i18n import translations
from tris.interfaces.web.render import Page
from tris.interfaces.web.sessions import COOKIE, LIFETIME, PRE_COOKIE, Session, Sessions

router = APIRouter(prefix="/audit", include_in_schema=False, route_class=OffLoopRoute)

SESSION_PURPOSE = b"tris-portal-sessions/1"
MAX_FORM_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store"}


def sessions(services: Services) -> Sessions:
    """The session signer, under a key derived from the server key."""
    return Sessions(services.integrity.derived_key(SESSION_PURPOSE))


def current(request: Request, services: Services) -> Session | None:
    """The request's session, if it has a genuine one whose token is still active."""
    session = sessions(services).read(request.cookies.get(COOKIE))
    if session is None or not services.tokens.is_active(session.principal.token_id):
        return None
    return session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(
    request: Request, services: Services, status: int = 200, problem: str | None = None
) -> HTMLResponse:
    signer = sessions(services)
    pre = signer.pre_session()
    page = Page.of(request)
    nonce = signer.pre_nonce(pre)
    assert nonce is not None
    answer = page.render("login.html", status, csrf=signer.csrf(nonce), problem=problem)
    answer.set_cookie(
        PRE_COOKIE, pre, max_age=900, path="/audit", httponly=True, samesite="strict",
        secure=_secure(request),
    )  # fmt: skip
    answer.headers.update(NO_STORE)
    return answer


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: ServicesDep) -> Response:
    """The sign-in form (or, when signed in already, the agreements)."""
    if current(request, services) is not None:
        return RedirectResponse(Page.of(request).link("/audit/agreements"), status_code=303)
    return _login_form(request, services)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each); {} for anything else."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items() if values}


@router.post("/login", response_class=HTMLResponse, dependencies=[Anonymous])
async def login(request: Request, services: ServicesDep) -> Response:
    """Check the form's CSRF value and the token; open a session."""
    form = await _form(request)
    signer = sessions(services)
    page = Page.of(request)
    if not signer.csrf_valid(signer.pre_nonce(request.cookies.get(PRE_COOKIE)), form.get("csrf")):
        problem = page_text(page, "The form has expired. Please sign in again.")
        return _login_form(request, services, 403, problem)
    secret = form.get("token", "").strip()
    principal = services.tokens.authenticate(secret) if secret else None
    if principal is None:
        problem = page_text(page, "This token is not valid (or was revoked).")
        return _login_form(request, services, 401, problem)
    if principal.role is Role.RESEARCHER:
        problem = page_text(page, "Researcher tokens read the open event stream, not agreements.")
        return _login_form(request, services, 403, problem)
    answer = RedirectResponse(page.link("/audit/agreements"), 303)
    answer.set_cookie(
        COOKIE, signer.issue(principal), max_age=LIFETIME, path="/", httponly=True,
        samesite="strict", secure=_secure(request),
    )  # fmt: skip
    answer.delete_cookie(PRE_COOKIE, path="/audit")
    return answer


def page_text(page: Page, message: str) -> str:
    """A message of this module in the page's language."""
    return translations(page.language).gettext(message)


@router.post("/logout")
async def logout(request: Request, services: ServicesDep) -> Response:
    """End the session (its form's CSRF value must match)."""
    form = await _form(request)
    session = current(request, services)
    answer = RedirectResponse("/", status_code=303)
    if session is None or sessions(services).csrf_valid(session.nonce, form.get("csrf")):
        answer.delete_cookie(COOKIE, path="/")
        return answer
    return Response("The form has expired; sign out again from a fresh page.", status_code=403)


def signed_in(request: Request, services: Services, build: Callable[[Page], Response]) -> Response:
    """The page for the session's principal, or the way to the sign-in form."""
    session = current(request, services)
    if session is None:
        return RedirectResponse(Page.of(request).link("/audit/login"), status_code=303)
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    wait = limiter.acquire(session.principal.token_id)
    if wait is not None:
        raise RateLimitedError(
            f"this token may send {int(limiter.capacity)} requests a minute; retry in {wait} s",
            retry_after=wait,
        )
    page = Page.of(
        request,
        viewer=session.principal,
        base="/audit",
        csrf=sessions(services).csrf(session.nonce),
    )
    answer = build(page)
    answer.headers.update(NO_STORE)
    return answer


Text = pages.Text


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def audit_home(request: Request, services: ServicesDep) -> Response:
    """The audit part starts with the agreements."""
    return signed_in(request, services, lambda page: RedirectResponse("/audit/agreements", 303))


@router.get("/agreements", response_class=HTMLResponse)
def agreements(
    request: Request, services: ServicesDep, filters: pages.Filters, cursor: Text = None
) -> Response:
    """Every agreement the token may read."""
    return signed_in(
        request,
        services,
        lambda page: pages.guarded(
            page, lambda: pages.agreements_page(page, services, filters, cursor or None)
        ),
    )


@router.get("/agreements/{agreement_id}", response_class=HTMLResponse)
def record(request: Request, agreement_id: str, services: ServicesDep) -> Response:
    """One agreement."""
    return signed_in(
        request,
        services,
        lambda page: pages.guarded(page, lambda: pages.record_page(page, services, agreement_id)),
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
    return signed_in(
        request,
        services,
        lambda page: pages.guarded(
            page, lambda: pages.compare_page(page, services, agreement_id, old, new)
        ),
    )


@router.get("/agreements/{agreement_id}/revisions/{number}/certificate")
def certificate(
    request: Request, agreement_id: str, number: int, services: ServicesDep
) -> Response:
    """A revision's signature certificate."""
    return signed_in(
        request,
        services,
        lambda page: pages.guarded(
            page, lambda: pages.certificate_page(page, services, agreement_id, number)
        ),
    )


@router.get("/agreements/{agreement_id}/events/{version}")
def event(request: Request, agreement_id: str, version: int, services: ServicesDep) -> Response:
    """A raw event."""
    return signed_in(
        request,
        services,
        lambda page: pages.guarded(
            page, lambda: pages.event_page(page, services, agreement_id, version)
        ),
    )


@router.get("/evidence/{agreement_id}.json")
def evidence(request: Request, agreement_id: str, services: ServicesDep) -> Response:
    """The evidence bundle, downloaded under the session."""

    def download(page: Page) -> Response:
        def bundle() -> Response:
            built = services.integrity.evidence_bundle(page.viewer, agreement_id, None)
            name = f"evidence-{built.agreement_id}.json"
            return StreamingResponse(
                built.chunks(),
                media_type="application/json",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )

        return pages.guarded(page, bundle)

    return signed_in(request, services, download)


@router.get("/ocds/{agreement_id}.json")
def ocds(request: Request, agreement_id: str, services: ServicesDep) -> Response:
    """The agreement as an OCDS release package, downloaded under the session."""

    def download(page: Page) -> Response:
        def package() -> Response:
            uri = str(request.url)
            body = services.open_contracting.release_package(page.viewer, agreement_id, uri)
            return JSONResponse(
                body,
                headers={"Content-Disposition": f'attachment; filename="ocds-{agreement_id}.json"'},
            )

        return pages.guarded(page, package)

    return signed_in(request, services, download)
