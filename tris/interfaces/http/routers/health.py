"""Liveness probe (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from tris.interfaces.http.schemas.common import HealthView

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthView, summary="Liveness probe, without a token")
def healthz() -> HealthView:
    """Answer that the server is up."""
    return HealthView(status="ok")
