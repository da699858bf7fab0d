"""Templates: one Jinja2 environment per language, with its catalogue and formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tris.application.access import PUBLIC, Principal
from tris.interfaces.web.i18n import LANGUAGES, Formats, choose, iso_moment, translations

TEMPLATES = Path(__file__).parent / "templates"
# Pages load nothing from elsewhere and run only the app's own script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@cache
def environment(language: str) -> Environment:
    """The templates in one language (autoescaped; gettext from its catalogue)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["iso_moment"] = iso_moment
    return env


@dataclass
class Page:
    """Who reads, in which language, under which part of the portal."""

    request: Request
    language: str
    viewer: Principal = PUBLIC
    base: str = ""  # "" for the public pages, "/audit" for the signed-in ones
    csrf: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, **kwargs: Any) -> Page:
        """The page for a request: its language from `?lang=` or Accept-Language."""
        language = choose(request.query_params.get("lang"), request.headers.get("accept-language"))
        return cls(request, language, **kwargs)

    @property
    def formats(self) -> Formats:
        """Dates and numbers in the page's language."""
        return Formats(self.language)

    def link(self, path: str, **params: Any) -> str:
        """A link inside the portal part, keeping an explicitly chosen language."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        if self.request.query_params.get("lang") in LANGUAGES:
            query.setdefault("lang", self.language)
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.base}{path}{suffix}"

    def switch(self, language: str) -> str:
        """This page in another language."""
        query = dict(self.request.query_params)
        query["lang"] = language
        return f"{self.request.url.path}?{urlencode(query)}"

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The template filled in, with the security headers of every page."""
        env = environment(self.language)
        body = env.get_template(template).render(
            page=self, lang=self.language, fmt=self.formats, **context
        )
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
