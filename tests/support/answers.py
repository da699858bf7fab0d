"""Every JSON answer of a route is its documented model's dump, checked in the client.

The routes serialise their answers themselves, once, without FastAPI validating them again
against `response_model`; this hook keeps that honest: each 2xx JSON answer seen by the
e2e client must equal what validating it as the route's model and dumping it gives (no
field missing, none extra, every value in the model's own form).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter


def api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with the prefix it is served under (routers included in routers)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes, prefix + route.include_context.prefix)


def find_route(app: FastAPI, method: str, path: str) -> APIRoute | None:
    """The API route that answers `method path`, if one does."""
    for prefix, route in api_routes(app.routes):
        if method not in route.methods or not path.startswith(prefix):
            continue
        if route.path_regex.match(path[len(prefix) :]):
            return route
    return None


def check_answers(app: FastAPI) -> Any:
    """An httpx response hook asserting 2xx JSON answers equal their model's dump."""

    def hook(response: httpx.Response) -> None:
        if not 200 <= response.status_code < 300:
            return
        if response.headers.get("content-type", "").split(";")[0] != "application/json":
            return
        request = response.request
        route = find_route(app, request.method, request.url.path)
        if route is None or route.response_model is None:
            return
        response.read()
        body = response.json()
        adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
        dumped = adapter.dump_python(
            adapter.validate_python(body),
            mode="json",
            by_alias=True,
            exclude_unset=route.response_model_exclude_unset,
            exclude_none=route.response_model_exclude_none,
            exclude_defaults=route.response_model_exclude_defaults,
        )
        assert body == dumped, (
            f"{request.method} {request.url.path}: the answer is not its model's dump: "
            f"{list(differences(body, dumped))}"
        )

    return hook


def differences(answer: Any, model: Any, path: str = "") -> Iterator[str]:
    """Where an answer and its model's dump differ, as `path: answer != model`."""
    if isinstance(answer, dict) and isinstance(model, dict):
        for key in sorted(answer.keys() | model.keys()):
            one, other = answer.get(key, "<absent>"), model.get(key, "<absent>")
            yield from differences(one, other, f"{path}.{key}")
    elif isinstance(answer, list) and isinstance(model, list):
        for index in range(max(len(answer), len(model))):
            one = answer[index] if index < len(answer) else "<absent>"
            other = model[index] if index < len(model) else "<absent>"
            yield from differences(one, other, f"{path}[{index}]")
    elif answer != model:
        yield f"{path or '.'}: {answer!r} != {model!r}"
