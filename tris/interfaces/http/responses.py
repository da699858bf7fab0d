"""What every route shares in its answers: headers from outcomes, documented responses."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import Response

from tris.application.store import Outcome
from tris.interfaces.http.schemas.common import ProblemView

REPLAYED_HEADER = "Idempotent-Replayed"
POSITION_HEADER = "X-TRIS-Position"

_DESCRIPTIONS = {
    400: "Malformed header (If-Match, Idempotency-Key) or unreadable body",
    401: "No bearer token, or an unknown or revoked one",
    403: "This token's role may not do this",
    404: "No such resource visible to this token",
    405: "Method not allowed on this path",
    409: "The current state does not allow this, or the same Idempotency-Key is in flight",
    412: "If-Match names another version than the current one: reload and retry",
    413: "Request body larger than the configured limit",
    422: "Malformed or invalid request, or an Idempotency-Key reused with another request",
    428: "If-Match is required on writes to an existing agreement",
    429: "Too many requests for this token: wait `Retry-After` seconds",
    500: "Unexpected server failure (no details are given)",
    503: "The database is unavailable, the request missed its deadline, or (listings) the "
    "read models lag behind `min_position`: retry after `Retry-After` seconds",
}

_HEADER_DOCS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds to wait before the next request",
            "schema": {"type": "integer"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before asking again",
            "schema": {"type": "integer"},
        }
    },
}

ETAG_DOC = {
    "ETag": {
        "description": 'The agreement version as an entity tag: `"3"`; send it as If-Match',
        "schema": {"type": "string"},
    }
}
LOCATION_DOC = {
    "Location": {"description": "Path of the created resource", "schema": {"type": "string"}}
}
REPLAYED_DOC = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request "
        "with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

POSITION_DOC = {
    POSITION_HEADER: {
        "description": "A global log position: on a command's answer, that of the last event "
        "it wrote (give it to the listings as `min_position` to see the change there); on a "
        "listing, how far its read models had got",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
COMMAND_DOC = {**REPLAYED_DOC, **POSITION_DOC}
# What every write to an agreement answers with: its new ETag and the command's headers.
WRITE_HEADERS = {**ETAG_DOC, **COMMAND_DOC}

READ = (401, 404, 429)
WRITE = (400, 401, 403, 404, 409, 413, 422, 429)
# A write to an existing resource: If-Match required (428) and checked (412).
VERSIONED_WRITE = (*WRITE, 412, 428)
AGREEMENT_WRITE = VERSIONED_WRITE


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the problem statuses a route can answer (and 500 and 503).

    Any route may answer 503: the database may be down, or the request may miss its deadline.
    """
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500, 503}):
        entry: dict[str, Any] = {"model": ProblemView, "description": _DESCRIPTIONS[status]}
        if status in _HEADER_DOCS:
            entry["headers"] = _HEADER_DOCS[status]
        documented[status] = entry
    return documented


def documented(
    status: int, *statuses: int, headers: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Problem responses plus the success status's response headers."""
    responses = problems(*statuses)
    if headers:
        responses[status] = {"headers": headers}
    return responses


def respond(
    response: Response,
    outcome: Outcome,
    *,
    location: str | None = None,
    version: int | None = None,
) -> Any:
    """A command's answer: its status, ETag (the body's version, or `version`), Location,
    replay marker and position, with any header already set on `response`.

    A new answer is serialised here, once: the application builds exactly the route's model
    (the e2e client checks every answer against it), so FastAPI does not validate it again.
    A replayed answer was stored by whichever release answered first, so it goes through
    the route's model as before.
    """
    headers: dict[str, str] = {}
    if version is None:
        body_version = outcome.body.get("version")
        if isinstance(body_version, int) and not isinstance(body_version, bool):
            version = body_version
    if version is not None:
        headers["ETag"] = entity_tag(version)
    if location is not None:
        headers["Location"] = location
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    if outcome.position is not None:
        # Queries given this as `min_position` are guaranteed to include the command.
        headers[POSITION_HEADER] = str(outcome.position)
    if outcome.replayed:
        response.status_code = outcome.status
        response.headers.update(headers)
        return outcome.body
    # The headers in one piece (set one by one, each scans the list), by lower-case name
    # as they go out: the answer's own replace any of the same name set before.
    merged = dict(response.headers)
    merged.update((name.lower(), value) for name, value in headers.items())
    return Response(
        content=pydantic_core.to_json(outcome.body),
        status_code=outcome.status,
        headers=merged,
        media_type="application/json",
    )


def entity_tag(version: int) -> str:
    """An agreement version as an entity tag: `"3"`."""
    return f'"{version}"'


def etag(response: Response, body: dict[str, Any]) -> dict[str, Any]:
    """Set the ETag of a read answer from the view's version."""
    response.headers["ETag"] = entity_tag(body["version"])
    return body


def read_model_answer(response: Response, body: dict[str, Any]) -> Response:
    """A read-model query's answer as JSON, with the headers set on `response`.

    Returned as a response of its own, so FastAPI does not validate it once more against
    the route's model: the queries build exactly that shape (the listing tests compare
    every answer with its model's dump), and validating a page of 50 agreements cost about
    a millisecond, most of the request.
    """
    answer = Response(content=pydantic_core.to_json(body), media_type="application/json")
    for name, value in response.headers.items():
        answer.headers[name] = value
    return answer
