"""Dependencies of the routes: services, the authenticated principal, If-Match, idempotency.

Dependencies are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a
hop between threads per dependency and request. Only a token lookup that reads the
database (not one this process made within the last second) and the routes go there.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

from fastapi import Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tris.application.access import Principal, Role
from tris.application.store import CommandContext, IdempotencyRequest
from tris.bootstrap import Services
from tris.domain.errors import InvalidInputError, PermissionDeniedError
from tris.domain.signing import canonical_json
from tris.interfaces.http.errors import (
    AuthenticationRequiredError,
    MalformedHeaderError,
    PreconditionRequiredError,
    RateLimitedError,
)
from tris.interfaces.http.ratelimit import RateLimiter

MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]+$")
_VERSION = re.compile(r'^(?:W/)?"?([0-9]{1,18})"?$')

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="An API token issued by an operator: `Authorization: Bearer tris_…`",
)


async def get_services(request: Request) -> Services:
    """The services built for this application (in its lifespan or by the caller)."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise RuntimeError("the application's services are not built: run it with its lifespan")
    return cast(Services, services)


# The routes' lean path resolves it from the request alone (ADR 39).
get_services.from_request = get_services  # type: ignore[attr-defined]

ServicesDep = Annotated[Services, Depends(get_services)]


async def authenticate(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The principal of the bearer token, within its rate limit."""
    return await _principal(request, services, credentials)


async def _principal(
    request: Request, services: Services, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None:
        limit_anonymous(request)
        raise AuthenticationRequiredError("send an API token as `Authorization: Bearer <token>`")
    principal = services.tokens.trusted(credentials.credentials)
    if principal is None:  # a database read: off the event loop
        principal = await run_in_threadpool(services.tokens.authenticate, credentials.credentials)
    if principal is None:
        limit_anonymous(request)
        raise AuthenticationRequiredError("the bearer token is unknown or revoked")
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    wait = limiter.acquire(principal.token_id)
    if wait is not None:
        raise RateLimitedError(
            f"this token may send {int(limiter.capacity)} requests a minute; retry in {wait} s",
            retry_after=wait,
        )
    return principal


async def _once(request: Request, key: Any, compute: Callable[[], Awaitable[Any]]) -> Any:
    """A dependency's value for the request, computed once however many ask for it (as
    FastAPI caches it for the request): a token is charged to its rate limit once."""
    memo = request.scope.setdefault("tris.dependencies", {})
    if key not in memo:
        memo[key] = await compute()
    return memo[key]


async def _authenticate_from_request(request: Request) -> Principal:
    async def compute() -> Principal:
        services = await get_services(request)
        return await _principal(request, services, await bearer_scheme(request))

    return cast(Principal, await _once(request, authenticate, compute))


# The routes' lean path resolves it from the request alone (ADR 39).
authenticate.from_request = _authenticate_from_request  # type: ignore[attr-defined]

CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def from_principal(check: Callable[[Principal], Any]) -> Callable[[Principal], Any]:
    """Mark a dependency that takes nothing but the `CurrentPrincipal` and checks it, so
    that the routes' lean path resolves it (ADR 39)."""

    async def from_request(request: Request) -> Any:
        result = check(await _authenticate_from_request(request))
        return await result if inspect.isawaitable(result) else result

    check.from_request = from_request  # type: ignore[attr-defined]
    return check


PageCursor = Annotated[str | None, Query(description="`next_cursor` of the page before")]
BoundedCursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the page before")
]


def limit_anonymous(request: Request) -> None:
    """Charge a request without a valid token to its client address (429 beyond the limit).

    Behind a proxy every client shares the proxy's address; the limit then bounds what
    all anonymous clients together may cost.
    """
    limiter = cast(RateLimiter, request.app.state.anonymous_limiter)
    address = request.client.host if request.client is not None else "unknown"
    wait = limiter.acquire(f"address:{address}")
    if wait is not None:
        raise RateLimitedError(
            f"this address may send {int(limiter.capacity)} requests a minute without a valid "
            f"token; retry in {wait} s",
            retry_after=wait,
        )


async def _limit_anonymous_from_request(request: Request) -> None:
    async def compute() -> None:
        limit_anonymous(request)

    await _once(request, limit_anonymous, compute)


limit_anonymous.from_request = _limit_anonymous_from_request  # type: ignore[attr-defined]

Anonymous = Depends(limit_anonymous)


@from_principal
async def require_admin(principal: CurrentPrincipal) -> Principal:
    """An admin token, or PermissionDeniedError."""
    return admin_only(principal)


def admin_only(principal: Principal) -> Principal:
    """An admin token, or PermissionDeniedError."""
    if principal.role is not Role.ADMIN:
        raise PermissionDeniedError("only an admin token may do this")
    return principal


def anyone(principal: Principal) -> Principal:
    """Any principal (the route decides what each may do)."""
    return principal


def partner_only(principal: Principal) -> Principal:
    """A partner token (the only kind that acts on agreements), or PermissionDeniedError."""
    if principal.role is not Role.PARTNER:
        raise PermissionDeniedError(
            f"{principal.role.token_kind} cannot act on agreements; parties act "
            "through their partner tokens"
        )
    return principal


@from_principal
async def require_agreement_reader(principal: CurrentPrincipal) -> Principal:
    """A token that may read agreements: partners (their own), admins and auditors."""
    if principal.role is Role.RESEARCHER:
        raise PermissionDeniedError(
            "a researcher token does not read single agreements; use the event stream"
        )
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
AgreementReader = Annotated[Principal, Depends(require_agreement_reader)]


def parse_if_match(value: str) -> int:
    """The version named by an If-Match value: `"3"`, `W/"3"` or `3`."""
    match = _VERSION.match(value.strip())
    if match is None:
        raise MalformedHeaderError(
            f'If-Match must name one agreement version, as in If-Match: "3"; got {value!r}'
        )
    return int(match.group(1))


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Required (428 without): the agreement version the change is based on, "
        'from its ETag: `"3"`',
    ),
]


def expected_version(if_match: str | None) -> int:
    """The version the client expects (required on every write to an existing agreement)."""
    if if_match is None:
        raise PreconditionRequiredError(
            'send If-Match: "<version>" with the ETag of the agreement you are changing'
        )
    return parse_if_match(if_match)


# What the fingerprint key is derived for (HKDF info), from the server key.
FINGERPRINT_PURPOSE = b"tris idempotency fingerprint v1"


# A body that is not JSON (or was not parsed yet), for the two helpers below.
NOT_JSON: Any = object()


def request_fingerprint(
    key: bytes, method: str, path: str, body: bytes, *, parsed: Any = NOT_JSON
) -> str:
    """HMAC-SHA256, under a key derived from the server key, over method, path and the body
    (as canonical JSON when it is JSON): the database alone cannot confirm a guessed body.

    `parsed`: the body's JSON value when the caller has it already (else it is parsed here).
    """
    if parsed is NOT_JSON and body:
        try:
            parsed = json.loads(body)
        except Exception:
            parsed = NOT_JSON
    try:
        canonical = body if parsed is NOT_JSON else canonical_json(parsed)
    except Exception:
        # Not JSON, or JSON that RFC 8785 cannot represent: the raw bytes identify it.
        canonical = body
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in (method.upper().encode(), path.encode("utf-8", "surrogateescape"), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def url_path(scope: Any) -> str:
    """The request's path as `request.url.path` gives it (Starlette escapes the characters
    that would end a path in a URL, and splitting the URL drops tabs and line breaks),
    without building the whole URL, which parses the Host header and splits the URL
    again (1.5 against 4.6 µs). (A command's path holds neither: the URL check refuses
    control characters first.)"""
    path = str(scope["path"]).replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return path.translate(_URL_DROPPED)


_URL_DROPPED = str.maketrans("", "", "\t\r\n")


async def json_of(request: Request, body: bytes) -> Any:
    """The body's JSON value, or NOT_JSON. FastAPI parsed it already when the route takes a
    JSON body (`Request.json` keeps it), so the body is parsed once per request."""
    if not body:
        return NOT_JSON
    try:
        return await request.json()
    except Exception:  # not JSON, not UTF-8, or nested too deep to parse
        return NOT_JSON


def _refuse_unencodable(body: bytes, parsed: Any) -> None:
    """Refuse JSON text that no UTF-8 store could keep (lone surrogates in escapes)."""
    if parsed is NOT_JSON or b"\\u" not in body.lower():
        return
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            "the body holds a lone UTF-16 surrogate escape, which is not text"
        ) from None


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A unique key per intended change (1 to 255 visible ASCII characters); "
        "a retry with the same key and body gets the first response and changes nothing",
    ),
]


async def idempotency_request(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    key: IdempotencyKeyHeader = None,
) -> IdempotencyRequest | None:
    """The request's Idempotency-Key, fingerprint and success status, if a key was sent."""
    return await _idempotency(request, services, key)


async def _idempotency(
    request: Request, services: Services, key: str | None
) -> IdempotencyRequest | None:
    body = await request.body()
    parsed = await json_of(request, body)
    _refuse_unencodable(body, parsed)
    if key is None:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not _IDEMPOTENCY_KEY.match(key):
        raise MalformedHeaderError(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )
    route = request.scope.get("route")
    status = getattr(route, "status_code", None) or 200
    fingerprint = request_fingerprint(
        services.integrity.derived_key(FINGERPRINT_PURPOSE),
        request.method,
        url_path(request.scope),
        body,
        parsed=parsed,
    )
    return IdempotencyRequest(key=key, fingerprint=fingerprint, status=int(status))


IdempotencyKey = Annotated[IdempotencyRequest | None, Depends(idempotency_request)]


def command_context(
    admit: Callable[[Principal], Principal], *, if_match: bool = False, idempotent: bool = True
) -> Callable[..., Awaitable[CommandContext]]:
    """The dependency that builds a command's context: who acts (the token's principal, as
    `admit` lets it through), the version it expects (`if_match`: If-Match required) and
    its Idempotency-Key.

    One dependency, not one per part: FastAPI's per-request cost grows with every
    dependency in the tree (a cache key, a scope and a call each), and every command
    pays it. The checks run in the order the parts were resolved in as dependencies of
    their own: the token, then If-Match, then the body and Idempotency-Key.
    """

    wants_version = if_match

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        if_match: str | None = None,
        key: str | None = None,
    ) -> CommandContext:
        services = await get_services(request)
        principal = admit(await _principal(request, services, credentials))
        expected = expected_version(if_match) if wants_version else None
        idempotency = await _idempotency(request, services, key) if idempotent else None
        return CommandContext(principal.actor, expected_version=expected, idempotency=idempotency)

    # What FastAPI resolves for it: the request, the bearer token, and the headers wanted.
    wanted: list[tuple[str, Any, Any]] = [
        ("request", Request, inspect.Parameter.empty),
        (
            "credentials",
            Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
            inspect.Parameter.empty,
        ),
    ]
    if if_match:
        wanted.append(("if_match", IfMatch, None))
    if idempotent:
        wanted.append(("key", IdempotencyKeyHeader, None))
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=d)
        for name, kind, d in wanted
    ]
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=CommandContext
    )

    async def from_request(request: Request) -> CommandContext:
        """The same context, its parts read from the request as FastAPI reads them for the
        dependency's parameters (the routes' lean path, ADR 39)."""
        headers = request.headers
        return await dependency(
            request,
            await bearer_scheme(request),
            headers.get("if-match") if wants_version else None,
            headers.get("idempotency-key") if idempotent else None,
        )

    dependency.from_request = from_request  # type: ignore[attr-defined]
    return dependency


# Parties, keys, tokens: any principal the route admits, with an Idempotency-Key.
Command = Annotated[CommandContext, Depends(command_context(anyone))]
# A partner's command that creates an agreement.
PartnerCommand = Annotated[CommandContext, Depends(command_context(partner_only))]
# A partner's command on an existing agreement: If-Match and Idempotency-Key.
AgreementCommand = Annotated[CommandContext, Depends(command_context(partner_only, if_match=True))]
# A command that takes no Idempotency-Key (DELETE is idempotent by itself).
PlainCommand = Annotated[CommandContext, Depends(command_context(anyone, idempotent=False))]
