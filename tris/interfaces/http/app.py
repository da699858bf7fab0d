"""The FastAPI application factory (also a uvicorn factory: `create_app` with no arguments)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

import tris
from tris.application.collection import serving_collection
from tris.bootstrap import Services, build
from tris.config import Settings, load_settings
from tris.interfaces import web
from tris.interfaces.http.deadline import RequestDeadlineMiddleware
from tris.interfaces.http.errors import DATABASE_UNAVAILABLE_ERRORS, install_error_handlers
from tris.interfaces.http.middleware import BodySizeLimitMiddleware, URLCheckMiddleware
from tris.interfaces.http.openapi import build_openapi
from tris.interfaces.http.ratelimit import RateLimiter
from tris.interfaces.http.routers import (
    agreements,
    amendments,
    events,
    fulfilments,
    health,
    integrity,
    listings,
    markets,
    networks,
    ocds,
    parties,
    persons,
    public,
    revisions,
    signing_keys,
    tokens,
)
from tris.interfaces.http.routing import include_flat

log = logging.getLogger(__name__)

# Routes are matched in this order, one route after another (~1.5 µs each; no two routes
# answer the same method and path): the most frequent requests' routes come first — the
# listings, then the agreements' commands (signatures and revisions, then fulfilments).
ROUTERS = (
    health.router,
    listings.router,
    revisions.router,
    fulfilments.router,
    agreements.router,
    amendments.router,
    parties.router,
    signing_keys.router,
    tokens.router,
    integrity.router,
    events.router,
    persons.router,
    markets.router,
    markets.public,
    networks.router,
    ocds.router,
    public.router,
    ocds.public,
)

# The order the documentation presents the operations in (their routes' order above is
# the order they are matched in).
TAGS = [
    {"name": "agreements", "description": "Propose, read and decide on agreements."},
    {"name": "revisions", "description": "Revise a proposal, sign a revision, compare two."},
    {"name": "amendments", "description": "Amend an agreement in force."},
    {"name": "fulfilments", "description": "Record and confirm what was delivered."},
    {"name": "read models", "description": "Listings, commitments and figures."},
    {"name": "parties", "description": "The registry of parties."},
    {"name": "signing keys", "description": "The keys parties sign with."},
    {"name": "networks", "description": "Networks of parties and their memberships."},
    {"name": "markets", "description": "The Marktplatz: markets, offers, needs and deals."},
    {"name": "event stream", "description": "The open event stream, for replay."},
    {"name": "integrity", "description": "Signed checkpoints and proofs of the log."},
    {"name": "open contracting", "description": "Agreements as OCDS releases."},
    {"name": "public", "description": "What the parties chose to publish."},
    {"name": "personal data", "description": "Contact persons, kept apart."},
    {"name": "tokens", "description": "API tokens (operators)."},
    {"name": "health", "description": "Liveness and the database's state."},
]


STARTUP_WAIT_SECONDS = 300.0


def build_when_reachable(settings: Settings, wait: float = STARTUP_WAIT_SECONDS) -> Services:
    """Build the services, waiting (up to `wait` seconds) for a database that is down.

    A server process that starts while the database restarts must not fail: under
    `--workers N` one process failing to start stops them all.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return build(settings)
        except DATABASE_UNAVAILABLE_ERRORS as error:
            if time.monotonic() > deadline:
                raise
            log.warning("database unavailable at start-up (%s); retrying", error)
        # The half-built services' connection pool closes when collected; collect it now,
        # so that retries do not pile up pools.
        gc.collect()
        time.sleep(1.0)


def server_app() -> FastAPI:
    """The application of a `tris serve` process (uvicorn's factory)."""
    return create_app(serving=True)


def _telemetry(settings: Settings) -> dict[str, Any]:
    """FastAPI's own OpenTelemetry (from 0.16x) as the settings say. Left on, it asks the
    global providers on every request whether anyone listens (ADR 42)."""
    if settings.opentelemetry or "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(
    services: Services | None = None, settings: Settings | None = None, serving: bool = False
) -> FastAPI:
    """Build the HTTP application.

    With `services` the caller owns them (and closes them). Without, settings come from
    the environment (unless given) and the services are built when the application starts
    and closed when it stops, so that each server process has its own. `serving` is for
    the application of a server process: once started, its garbage collection is tuned for
    serving (`serving_collection`); elsewhere the interpreter's defaults stay.
    """
    if settings is None:
        settings = services.settings if services is not None else load_settings()
    resolved = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The one lifespan: build the services (unless given), run their background work."""
        owned = None
        if app.state.services is None:
            owned = await asyncio.to_thread(build_when_reachable, resolved)
            app.state.services = owned
        services: Services = app.state.services
        try:
            # A missing or unusable server key stops the start (ServerKeyError).
            services.start_background()
            if serving:
                serving_collection()
            yield
        finally:
            services.stop_background()
            if owned is not None:
                app.state.services = None
                owned.close()

    app = FastAPI(
        title="TRIS",
        version=getattr(tris, "__version__", "0.1.0"),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        openapi_tags=TAGS,
        docs_url=None,  # served by the portal from the app's own files (no CDN)
        redoc_url=None,
        **_telemetry(settings),
    )
    app.state.settings = settings
    app.state.services = services
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.anonymous_limiter = RateLimiter(settings.anonymous_rate_limit_per_minute)
    install_error_handlers(app)
    for router in ROUTERS:
        include_flat(app, router)
    web.install(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(URLCheckMiddleware)
    app.add_middleware(RequestDeadlineMiddleware, seconds=settings.request_timeout)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
