"""The one table from errors to HTTP problems (RFC 9457 `application/problem+json`).

Every error response of the API is a problem document::

    {"type": "https://tris.example/problems/stale-revision", "title": "Stale revision",
     "status": 409, "detail": "revision 1 is not the latest; sign revision 2",
     "instance": "/v1/agreements/…/signatures"}

`type` is `https://tris.example/problems/` followed by the error class's name without its
`Error` suffix, in kebab case (`StaleRevisionError` → `stale-revision`), so a client can
branch on the most specific rule that was broken. `status` is taken from `STATUS_BY_ERROR`
for the most specific class along the error's MRO (a `StaleRevisionError` is a
`ConflictError`, hence 409). Errors the framework raises get types of their own:
`request-validation` (422, with `errors` naming each field), `not-found` (unknown route),
`method-not-allowed` (405) and `internal-error` (500, never with a traceback). A database
that cannot be reached, or that timed a statement out, answers `service-unavailable` (503,
with `Retry-After`): the request may be retried, with the same Idempotency-Key.

The errors of this module are the HTTP layer's own: they concern the request (credentials,
headers, size, rate), never a rule of the domain; they hang under `RequestError` in the one
tree (`tris/application/errors.py`). A TRIS error whose status is 500 (a configuration
problem) is answered as `internal-error`, its detail only logged.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import DataError, InterfaceError, OperationalError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tris.application.errors import (
    ApplicationError,
    ConcurrentUpdateError,
    ContentTooLargeError,
    IdempotencyInFlightError,
    IdempotencyKeyReusedError,
    RequestError,
    ResourceNotFoundError,
    StateConflictError,
    StreamLimitError,
    TooManyRevisionsError,
    UnreadableExportError,
    VersionMismatchError,
)
from tris.config import ConfigurationError
from tris.domain.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TrisError,
)
from tris.storage.errors import (
    PersonalDataErasedError,
    PersonalDataKeyError,
    StorageError,
    StorageUnavailableError,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://tris.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_LISTED_FIELDS = 10
RETRY_AFTER_SECONDS = 2


class HTTPProblemError(RequestError):
    """A request the HTTP layer refuses before any use case runs."""

    title = "Bad request"

    def __init__(self, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = dict(headers or {})


class AuthenticationRequiredError(HTTPProblemError):
    """No bearer token was sent, or it is unknown or revoked."""

    title = "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, {"WWW-Authenticate": 'Bearer realm="tris"'})


class MalformedHeaderError(HTTPProblemError):
    """A header TRIS reads (If-Match, Idempotency-Key, Content-Length) is malformed."""

    title = "Malformed header"


class ControlCharacterError(HTTPProblemError):
    """The path or a query parameter holds a control character (NUL, line breaks, …)."""

    title = "Control characters in the request"


class ControlCharacterPathError(ControlCharacterError):
    """The path holds a control character: nothing TRIS serves has such a path (404)."""

    title = "Not found"


class RepeatedQueryParameterError(HTTPProblemError):
    """A query parameter was given more than once: every parameter of TRIS takes one
    value, and taking one of several silently would answer a question nobody asked."""

    title = "Query parameter given more than once"


class PreconditionRequiredError(HTTPProblemError):
    """A write to an existing agreement was sent without If-Match."""

    title = "Precondition required"


class PayloadTooLargeError(HTTPProblemError):
    """The request body is larger than the configured limit."""

    title = "Payload too large"


class RateLimitedError(HTTPProblemError):
    """The token sent more requests than its per-minute allowance."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ReadModelsBehindError(HTTPProblemError):
    """The read models have not reached the log position the client asked for."""

    title = "Read models behind"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})


class ServiceUnavailableError(HTTPProblemError):
    """The database is unreachable or too slow, or the request ran past its deadline."""

    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})


# Errors that mean "the database cannot serve now" (down, restarting, pool exhausted,
# statement or lock timeout), as the library and the driver raise them.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


STATUS_BY_ERROR: dict[type[Exception], int] = {
    TrisError: 500,
    DomainError: 400,
    InvalidInputError: 422,
    NotFoundError: 404,
    PermissionDeniedError: 403,
    ConflictError: 409,
    ApplicationError: 400,
    ResourceNotFoundError: 404,
    StateConflictError: 409,
    UnreadableExportError: 422,
    RequestError: 400,
    VersionMismatchError: 412,
    ConcurrentUpdateError: 409,
    IdempotencyKeyReusedError: 422,
    IdempotencyInFlightError: 409,
    StreamLimitError: 429,
    ContentTooLargeError: 413,
    TooManyRevisionsError: 422,
    HTTPProblemError: 400,
    AuthenticationRequiredError: 401,
    MalformedHeaderError: 400,
    ControlCharacterError: 422,
    ControlCharacterPathError: 404,
    RepeatedQueryParameterError: 422,
    PreconditionRequiredError: 428,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    ReadModelsBehindError: 503,
    ServiceUnavailableError: 503,
    StorageError: 503,
    StorageUnavailableError: 503,
    PersonalDataErasedError: 409,
    PersonalDataKeyError: 503,
    ConfigurationError: 500,
}


def status_for(error: Exception) -> int:
    """The HTTP status of an error: the table entry of its most specific class."""
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def problem_type(name: str) -> str:
    """The problem type URI for an error class name or a short slug."""
    stem = name.removesuffix("Error")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", stem)
    slug = words.lower().replace(" ", "-")
    return PROBLEM_BASE + slug


def problem_document(
    status: int,
    type_: str,
    title: str,
    detail: str,
    instance: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A problem document as a plain dict."""
    document: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    document.update(extra or {})
    return document


def problem_bytes(error: HTTPProblemError, instance: str) -> bytes:
    """A problem document for an HTTP-layer error, encoded for raw ASGI responses."""
    document = problem_document(
        status_for(error), problem_type(type(error).__name__), error.title, error.detail, instance
    )
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def problem_response(
    request: Request,
    status: int,
    type_: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An `application/problem+json` response for this request."""
    document = problem_document(status, type_, title, detail, request.url.path, extra)
    return JSONResponse(
        document, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _field_name(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location) or "request"


async def handle_known_error(request: Request, error: Exception) -> Response:
    """TRIS's errors, by the table; a server-side one says nothing of its cause."""
    if status_for(error) >= 500 and not isinstance(error, HTTPProblemError):
        log.error("%s on %s %s: %s", type(error).__name__, request.method, request.url.path, error)
        return await handle_unexpected_error(request, error)
    title = getattr(error, "title", "Error")
    detail = getattr(error, "detail", str(error))
    headers = getattr(error, "headers", None)
    return problem_response(
        request,
        status_for(error),
        problem_type(type(error).__name__),
        title,
        detail,
        headers=headers,
    )


async def handle_validation_error(request: Request, error: Exception) -> Response:
    """Malformed requests: 422 naming every field that is wrong (without echoing input)."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", ""), "type": e["type"]}
        for e in error.errors()
    ]
    listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:MAX_LISTED_FIELDS])
    more = len(errors) - MAX_LISTED_FIELDS
    detail = listed + (f"; and {more} more" if more > 0 else "")
    return problem_response(
        request,
        422,
        problem_type("request-validation"),
        "Invalid request",
        detail or "the request is malformed",
        extra={"errors": errors},
    )


async def handle_http_error(request: Request, error: Exception) -> Response:
    """Framework errors: unknown routes (404), wrong methods (405), unreadable bodies."""
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    phrase = HTTPStatus(status).phrase
    if status == 404:
        detail = f"there is no resource at {request.url.path}"
    elif status == 405:
        headers = dict(error.headers or {})
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        detail = (
            f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
        )
        return problem_response(
            request, status, problem_type(phrase), phrase, detail, headers=headers
        )
    else:
        detail = str(error.detail) if error.detail else phrase
    return problem_response(
        request, status, problem_type(phrase), phrase, detail, headers=error.headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method the API documents for this path (Starlette names only one route's)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods.update(method.upper() for method in operations)
    return ", ".join(sorted(methods))


async def handle_database_unavailable(request: Request, error: Exception) -> Response:
    """The database cannot serve now: 503 with Retry-After, never a hang or a 500."""
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, error)
    unavailable = ServiceUnavailableError(
        "the database is unavailable at the moment; retry after Retry-After seconds "
        "(a POST with the same Idempotency-Key is applied at most once)"
    )
    return await handle_known_error(request, unavailable)


# Errors the database raises for a value it cannot hold (out of range, not encodable). The
# domain refuses such values first; this is the net under it: a client's data is never a 500.
DATA_ERRORS: tuple[type[Exception], ...] = (DataError, psycopg.DataError, sqlite3.DataError)


async def handle_data_error(request: Request, error: Exception) -> Response:
    """The database refused a value of the request: 422, nothing recorded."""
    log.warning("database refused a value for %s %s: %s", request.method, request.url.path, error)
    return problem_response(
        request,
        422,
        problem_type("invalid-data"),
        "Invalid data",
        "the request holds a value the database cannot store; nothing was recorded",
    )


async def handle_unexpected_error(request: Request, error: Exception) -> Response:
    """Anything else: 500, saying nothing of the cause (the server log has it)."""
    return problem_response(
        request,
        500,
        problem_type("internal-error"),
        "Internal server error",
        "the server failed to handle this request; the failure was logged",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""
    app.add_exception_handler(TrisError, handle_known_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    # A storage error that means "not now" (the writer of ADR 38 gone, say) is answered as
    # the database's own are: 503 with Retry-After, not as a server-side failure.
    for unavailable in (*DATABASE_UNAVAILABLE_ERRORS, StorageUnavailableError):
        app.add_exception_handler(unavailable, handle_database_unavailable)
    for refused in DATA_ERRORS:
        app.add_exception_handler(refused, handle_data_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
