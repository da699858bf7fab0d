"""Liveness probe (no token needed): the server is up, and whether its read models keep up."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from tris.interfaces.http.deps import ServicesDep
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.common import HealthView, ReadModelFailureView

router = APIRouter(tags=["health"], route_class=OffLoopRoute)
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=HealthView, summary="Liveness probe, without a token")
def healthz(services: ServicesDep) -> HealthView:
    """Answer that the server is up (200 always: restarting it mends neither a database
    outage nor a read model that fails on an event), and report either."""
    try:
        failures = services.projections.failures()
    except Exception as error:  # the probe answers whatever the database does
        log.warning("healthz: cannot read the read models' state: %s", error)
        return HealthView(status="degraded", database="unavailable")
    views = [
        ReadModelFailureView(
            projection=name, position=position, event_type=kind, error=error, failed_at=when
        )
        for name, (position, kind, error, when) in sorted(failures.items())
    ]
    return HealthView(status="degraded" if views else "ok", failing_read_models=views)
