"""Routes whose plain `def` endpoints run on TRIS's own threads (ADR 37).

A route that reads or writes the database is a plain `def`: its work blocks (a statement,
the durable commit of its command's batch) and must not stop the event loop. FastAPI runs
such an endpoint through anyio's thread pool, and validates its answer there in a second
hop; each hop costs ~45 µs of CPU under the GIL (measured with uvloop: anyio's `run_sync`
against ~15 µs for the loop's `run_in_executor`). `OffLoopRoute` gives FastAPI an
`async def` in its place that runs the endpoint once on a plain thread pool, with the
request's context variables, so the answer is validated on the loop without a second hop.

In front of FastAPI's own handler, a route whose shape allows it has a lean one (ADR 39):
a well-formed request is validated with the route's own fields and answered without
FastAPI's per-request dependency solving; anything else goes to FastAPI's handler.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import inspect
import os
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import fastapi.routing
from fastapi import APIRouter, FastAPI, params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute, serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic_core import PydanticUndefined as Undefined
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

# As many threads as anyio lends sync endpoints by default: requests beyond them queue.
ROUTE_THREADS = 40


@functools.cache
def route_executor() -> ThreadPoolExecutor:
    """This process's thread pool for blocking endpoints (made at its first use)."""
    return ThreadPoolExecutor(ROUTE_THREADS, thread_name_prefix="tris-route")


# A forked child has none of its parent's threads: it makes its own pool.
os.register_at_fork(after_in_child=route_executor.cache_clear)


def off_loop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """An `async def` with `endpoint`'s signature (FastAPI reads it through `__wrapped__`)
    that runs `endpoint` on the route threads with the caller's context variables."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        call = functools.partial(contextvars.copy_context().run, endpoint, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(route_executor(), call)

    return run


class OffLoopRoute(APIRoute):
    """An API route that runs a plain `def` endpoint with `off_loop`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.isfunction(endpoint) and not inspect.iscoroutinefunction(endpoint):
            endpoint = off_loop(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, behind the lean path where the route's shape allows it."""
        full = super().get_route_handler()
        # The route as included in its application (FastAPI builds one per inclusion).
        included = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = included.get() if included is not None else None
        route = context if getattr(context, "original_route", None) is self else self
        return lean_handler(route, full) or full


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s routes to the application's own list, as routes of its own.

    FastAPI (from 0.16x) keeps an included router as one entry that it matches twice a
    request (once to choose it, once more to choose the route within it), each time
    through a context per inclusion (ADR 42). A route of the application's own is one
    regular expression tried once. Each route is copied with the application as the
    provider of dependency overrides and its handler made again for it (the router's own
    prefix, tags and dependencies are already the route's); the rest of what FastAPI
    derived from its endpoint is shared: making every route anew took an application
    ~240 ms to build, copies ~8 ms.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"only API routes are included flat, not {route!r}")
        if getattr(route, "max_body_size", None) is not None:
            raise TypeError(f"a route with a body limit of its own is not included flat: {route!r}")
        clone = copy.copy(route)
        clone.dependency_overrides_provider = app
        clone.app = fastapi.routing.request_response(clone.get_route_handler())
        app.router.routes.append(clone)


# --- The routes' lean path (ADR 39) -----------------------------------------------------

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Resolver = Callable[[Request], Awaitable[Any]]

# The JSON bodies the lean path parses itself; any other Content-Type goes the full way.
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})


def lean_resolver(call: Any) -> Resolver | None:
    """How the lean path resolves a dependency from the request alone, or None when it
    cannot (a dependency declares it with a `from_request` attribute)."""
    resolver = getattr(call, "from_request", None)
    return cast(Resolver, resolver) if callable(resolver) else None


def lean_handler(route: Any, full: Handler) -> Handler | None:
    """A handler for `route` that skips FastAPI's per-request analysis when the request is
    well-formed, or None when the route's shape is not one it covers.

    It covers a route whose endpoint is a coroutine function taking path, query and header
    parameters, at most one JSON body (not embedded), the `Response`, and dependencies
    that resolve from the request alone (`from_request`): the commands and most reads.
    It validates the parameters and the body with the route's own fields, exactly as
    FastAPI does, before anything with an effect runs; a request they refuse, a body
    that is not plain JSON, or any dependency override goes to `full`, FastAPI's own
    handler, which then answers exactly as it always did (the same errors, in the same
    order). Only the happy path is short.
    """
    dependant = getattr(route, "dependant", None)
    if dependant is None or not inspect.iscoroutinefunction(dependant.call):
        return None
    if inspect.isgeneratorfunction(inspect.unwrap(dependant.call)):
        return None
    response_class = route.response_class
    default_class = isinstance(response_class, DefaultPlaceholder)
    actual_class = response_class.value if default_class else response_class
    if (
        dependant.cookie_params
        or len(dependant.body_params) > 1
        or getattr(route, "_embed_body_fields", True)
        or dependant.request_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or route.stream_item_field is not None
        or route.is_json_stream
        or not isinstance(actual_class, type)
        or not issubclass(actual_class, (JSONResponse, Response))
        or issubclass(actual_class, StreamingResponse)
        or route.response_model_include is not None
        or route.response_model_exclude is not None
        or not route.response_model_by_alias
        or route.response_model_exclude_unset
        or route.response_model_exclude_defaults
        or route.response_model_exclude_none
    ):
        return None
    if dependant.body_params and isinstance(dependant.body_params[0].field_info, params.Form):
        return None
    # In FastAPI's order; a dependency without a name (a router's) runs for its effect.
    resolvers: list[tuple[str | None, Resolver]] = []
    for sub in dependant.dependencies:
        resolver = lean_resolver(sub.call)
        if resolver is None:
            return None
        resolvers.append((sub.name, resolver))
    endpoint = cast(Callable[..., Awaitable[Any]], dependant.call)
    path_params, query_params = dependant.path_params, dependant.query_params
    header_params, body_params = dependant.header_params, dependant.body_params
    response_name = dependant.response_param_name
    answer = _Answer(route.response_field, route.status_code, actual_class, default_class)
    provider = route.dependency_overrides_provider

    async def lean(request: Request) -> Response:
        if provider is not None and getattr(provider, "dependency_overrides", None):
            return await full(request)
        values, errors = request_params_to_args(path_params, request.path_params)
        if errors:
            return await full(request)
        for fields, received in (
            (query_params, request.query_params),
            (header_params, request.headers),
        ):
            if fields:
                more, errors = request_params_to_args(fields, received)
                if errors:
                    return await full(request)
                values.update(more)
        if body_params:
            body: Any = Undefined
            if await request.body():
                if request.headers.get("content-type", "").lower() not in _JSON_TYPES:
                    return await full(request)
                try:
                    body = await request.json()
                except Exception:  # not JSON: FastAPI's handler words the 422
                    return await full(request)
            body_values, errors = await request_body_to_args(body_params, body, False)
            if errors:
                return await full(request)
            values.update(body_values)
        for name, resolve in resolvers:
            value = await resolve(request)
            if name is not None:
                values[name] = value
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        if response_name is not None:
            values[response_name] = sub_response
        raw = await endpoint(**values)
        if isinstance(raw, Response):
            return raw
        return await answer.serialised(raw, sub_response)

    return lean


class _Answer:
    """How a route's answer of plain data becomes its response, as FastAPI's handler
    makes it: through the route's model, with the route's status and response class."""

    def __init__(
        self, field: Any, status_code: int | None, response_class: Any, default_class: bool
    ) -> None:
        self.field = field
        self.status_code = status_code
        # FastAPI writes the model's JSON itself only for a route with the default class.
        self.dump_json = field is not None and default_class
        self.response_class = response_class

    async def serialised(self, raw: Any, sub_response: Response) -> Response:
        """The response for the endpoint's answer `raw` (a replayed command's stored
        answer, a read's view), with the headers and status set on `sub_response`."""
        content = await serialize_response(
            field=self.field, response_content=raw, is_coroutine=True, dump_json=self.dump_json
        )
        arguments: dict[str, Any] = {}
        status = sub_response.status_code or self.status_code
        if status is not None:
            arguments["status_code"] = status
        response: Response
        if self.dump_json:
            response = Response(content=content, media_type="application/json", **arguments)
        else:
            response = self.response_class(content, **arguments)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response
