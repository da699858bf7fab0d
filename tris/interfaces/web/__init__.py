"""The transparency portal: server-rendered pages for the public and, signed in, for audit;
and the API's interactive documentation, served from the app itself (no CDN)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.web import audit, pages

STATIC = Path(__file__).parent / "static"
SWAGGER = "/static/swagger-ui"
# Swagger UI 5 (it reads OpenAPI 3.1) as the fastapi-offline package ships it.
SWAGGER_FILES = Path(fastapi_offline.__file__).parent / "static"

docs = APIRouter(include_in_schema=False, route_class=OffLoopRoute)


@docs.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json, its script and styles from the app itself."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="TRIS API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon.png",
    )


def install(app: FastAPI) -> None:
    """Add the portal's pages, the offline API docs and their static files to the app."""
    # The more specific mount first: /static would otherwise answer for the Swagger files.
    app.mount(SWAGGER, StaticFiles(directory=SWAGGER_FILES), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(docs)
    app.include_router(pages.router)
    app.include_router(audit.router)
