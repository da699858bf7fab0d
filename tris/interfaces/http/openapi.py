"""The OpenAPI document: generated from the routes, error answers as problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tris.interfaces.http.errors import PROBLEM_MEDIA_TYPE

DESCRIPTION = """\
The v1 API of TRIS, the record of agreements between state, business and civil society.

* Authenticate with `Authorization: Bearer <token>`; tokens are issued by operators.
  Only the liveness probe and the server's public key (`/v1/server-key`) need none.
* Every error is an RFC 9457 problem document (`application/problem+json`) whose `type` is
  `https://tris.example/problems/<slug>`, the slug naming the broken rule in kebab case
  (`stale-revision`, `not-a-party`, `version-mismatch`, `request-validation`, …).
* Writes to an existing agreement need `If-Match: "<version>"` (its `ETag`): 428 without,
  412 when the agreement has changed since.
* Every POST honours `Idempotency-Key`: the same key and body give the first answer again
  (marked `Idempotent-Replayed: true`) and change nothing; the same key with another body
  is refused (422); a token issue answers its token again, though its secret is never
  stored.
* Decimals (quantities) are JSON strings, dates ISO 8601, ids opaque strings.
"""


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with every error response typed `application/problem+json`."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=DESCRIPTION,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _document_precondition_headers(operation)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                is_error = status.isdigit() and int(status) >= 400
                if is_error and content and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    app.openapi_schema = schema
    return schema


# The exact syntax of the headers TRIS reads. If-Match is optional to the framework (so that
# its absence answers 428, not 422) but required by the contract on every write it guards.
HEADER_SCHEMAS: dict[str, tuple[bool, dict[str, Any]]] = {
    "If-Match": (True, {"type": "string", "pattern": '^(W/)?"?[0-9]{1,18}"?$'}),
    "Idempotency-Key": (False, {"type": "string", "pattern": "^[!-~]{1,255}$"}),
    "Last-Event-ID": (False, {"type": "string", "pattern": "^([0-9]{1,18})?$"}),
}


def _document_precondition_headers(operation: dict[str, Any]) -> None:
    """Document If-Match, Idempotency-Key and Last-Event-ID as the API enforces them."""
    for parameter in operation.get("parameters", []):
        known = HEADER_SCHEMAS.get(parameter.get("name", ""))
        if parameter.get("in") == "header" and known is not None:
            required, header_schema = known
            parameter["required"] = required
            parameter["schema"] = dict(header_schema)
