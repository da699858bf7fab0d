"""The command routes' lean path (ADR 39): well-formed commands skip FastAPI's per-request
analysis; everything else is answered by FastAPI's own handler, exactly as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastapi
import fastapi.routing
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, bearer, build_services, content
from tris.application.access import Role
from tris.bootstrap import Services
from tris.interfaces.http.app import ROUTERS, create_app
from tris.interfaces.http.routing import include_flat


def unused() -> None:
    """A dependency no route has: overriding it sends every request the full way."""


@pytest.fixture
def full_client(services: Services) -> Iterator[TestClient]:
    """A client of an application whose routes all take FastAPI's own handler."""
    app = create_app(services)
    app.dependency_overrides[unused] = unused
    with TestClient(app) as client:
        yield client


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests FastAPI solved dependencies for."""
    calls: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(*, request: Any, **kwargs: Any) -> Any:
        calls.append(request.url.path)
        return await solve(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return calls


def test_well_formed_commands_skip_fastapis_dependency_solving(
    api: Api, trio: Trio, solved: list[str]
) -> None:
    proposed = api.propose(trio.state, content(trio.state, trio.business))
    assert proposed.status_code == 201, proposed.text
    agreement_id = proposed.json()["id"]
    signed = api.sign(trio.state, agreement_id, 1)
    assert signed.status_code == 201, signed.text
    # Only the reads around the commands (the payload, the ETag) were solved by FastAPI.
    assert not [path for path in solved if not path.endswith(("signing-payload", agreement_id))]
    refused = api.client.post("/v1/agreements", json={"title": 5}, headers=trio.state.headers())
    assert refused.status_code == 422
    assert solved[-1] == "/v1/agreements"  # a refused body goes the full way


def test_a_replayed_command_is_answered_through_its_model(api: Api, trio: Trio) -> None:
    body = content(trio.state, trio.business)
    headers = trio.state.headers(**{"Idempotency-Key": "lean-replay"})
    first = api.client.post("/v1/agreements", json=body, headers=headers)
    again = api.client.post("/v1/agreements", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"


def refused_requests(trio: Trio) -> list[tuple[str, str, dict[str, Any]]]:
    """Commands the lean path must not answer differently from FastAPI: each refused."""
    partner = trio.state.headers()
    unknown = "/v1/agreements/no-such-agreement"
    signature = {"revision": 1, "key_id": trio.state.key_id, "signature": "c2ln"}
    as_json = {"Content-Type": "application/json"}
    # A valid proposal, but not sent as JSON: FastAPI refuses it.
    proposal = json.dumps(content(trio.state, trio.business)).encode()
    return [
        ("POST", "/v1/agreements", {"content": b"{not json", "headers": {**partner, **as_json}}),
        ("POST", "/v1/agreements", {"json": {"title": 5}, "headers": partner}),
        ("POST", "/v1/agreements", {"json": {"title": 5}, "headers": {}}),
        ("POST", "/v1/agreements", {"content": b"", "headers": partner}),
        ("POST", "/v1/agreements", {"content": b"[]" * 1, "headers": {**partner, **as_json}}),
        (
            "POST",
            "/v1/agreements",
            {"content": proposal, "headers": {**partner, "Content-Type": "text/plain"}},
        ),
        ("POST", "/v1/agreements", {"content": b"[" * 100_000, "headers": {**partner, **as_json}}),
        (
            "POST",
            "/v1/agreements",
            {"content": b'{"title": "\\ud800"}', "headers": {**partner, **as_json}},
        ),
        ("POST", f"{unknown}/signatures", {"json": signature, "headers": partner}),
        (
            "POST",
            f"{unknown}/signatures",
            {"json": signature, "headers": {**partner, "If-Match": "x"}},
        ),
        (
            "POST",
            f"{unknown}/signatures",
            {
                "json": signature,
                "headers": {**partner, "If-Match": '"1"', "Idempotency-Key": "two words"},
            },
        ),
        (
            "POST",
            f"{unknown}/signatures",
            {"json": signature, "headers": {**partner, "If-Match": '"1"'}},
        ),
        ("POST", f"{unknown}/amendments/0/rejection", {"json": {}, "headers": partner}),
        ("POST", f"{unknown}/amendments/x/rejection", {"json": {}, "headers": partner}),
        (
            "POST",
            f"{unknown}/fulfilments/f/confirmation",
            {"headers": {**partner, "If-Match": '"1"'}},
        ),
        ("POST", "/v1/markets", {"json": {"name": ""}, "headers": bearer("tris_not-a-token")}),
    ]


def refused_reads(api: Api, trio: Trio) -> list[tuple[str, str, dict[str, Any]]]:
    """Reads the lean path must not answer differently from FastAPI: each refused."""
    proposed = api.propose(trio.state, content(trio.state, trio.business))
    agreement = f"/v1/agreements/{proposed.json()['id']}"
    partner = trio.state.headers()
    researcher = bearer(api.issue_token("researcher"))
    return [
        ("GET", agreement, {"params": {"version": "0"}, "headers": partner}),
        ("GET", agreement, {"params": {"version": "one"}, "headers": partner}),
        ("GET", agreement, {"params": {"as_of": "yesterday"}, "headers": partner}),
        ("GET", agreement, {"params": {"version": "0"}, "headers": {}}),
        ("GET", agreement, {"headers": researcher}),
        ("GET", agreement, {"headers": trio.outsider.headers()}),
        ("GET", f"{agreement}/history", {"params": {"limit": "501"}, "headers": partner}),
        ("GET", f"{agreement}/history", {"params": {"cursor": "x" * 300}, "headers": partner}),
        ("GET", f"{agreement}/revisions/0", {"headers": partner}),
        ("GET", f"{agreement}/revisions/9", {"headers": partner}),
        ("GET", "/v1/agreements", {"params": {"limit": "0"}, "headers": partner}),
        ("GET", "/v1/agreements", {"params": {"status": "nonsense"}, "headers": partner}),
        ("GET", "/v1/tokens", {"headers": partner}),
        ("GET", "/v1/events", {"params": {"after": "-1"}, "headers": researcher}),
        ("GET", "/v1/events", {"headers": partner}),
        # The public routes: no token, the address's limit, published agreements only.
        ("GET", f"/v1/public{agreement.removeprefix('/v1')}", {}),
        ("GET", "/v1/public/agreements", {"params": {"limit": "0"}}),
        ("GET", f"/v1/public/agreements/{'x' * 101}", {}),
        ("GET", "/v1/public/stats", {"params": {"as_of": "someday"}}),
    ]


def test_refused_reads_are_answered_exactly_as_fastapi_answers_them(
    api: Api, client: TestClient, full_client: TestClient, trio: Trio
) -> None:
    for method, path, arguments in refused_reads(api, trio):
        lean = client.request(method, path, **arguments)
        full = full_client.request(method, path, **arguments)
        assert lean.status_code >= 400, (path, arguments, lean.text)
        assert (lean.status_code, lean.content) == (full.status_code, full.content), path
        assert _headers(lean) == _headers(full), path


def test_reads_are_answered_as_fastapi_answers_them(
    api: Api, client: TestClient, full_client: TestClient, trio: Trio, solved: list[str]
) -> None:
    proposed = api.propose(trio.state, content(trio.state, trio.business))
    agreement = f"/v1/agreements/{proposed.json()['id']}"
    partner = trio.state.headers()
    for path, arguments in [
        (agreement, {"headers": partner}),
        (agreement, {"params": {"version": "1"}, "headers": api.admin}),
        (f"{agreement}/history", {"params": {"limit": "1"}, "headers": partner}),
        (f"{agreement}/revisions/1", {"headers": partner}),
        (f"{agreement}/revisions/1/signing-payload", {"headers": partner}),
        ("/v1/agreements", {"params": {"limit": "5"}, "headers": partner}),
        ("/v1/tokens", {"headers": api.admin}),
        ("/v1/public/agreements", {"params": {"limit": "5"}}),
        ("/v1/public/stats", {}),
    ]:
        solved.clear()
        lean = client.get(path, **arguments)
        assert solved == [], path  # the lean path answered
        full = full_client.get(path, **arguments)
        assert lean.status_code == 200, (path, lean.text)
        assert (lean.status_code, lean.content) == (full.status_code, full.content), path
        assert _headers(lean) == _headers(full), path


def test_refused_commands_are_answered_exactly_as_fastapi_answers_them(
    client: TestClient, full_client: TestClient, trio: Trio
) -> None:
    for method, path, arguments in refused_requests(trio):
        lean = client.request(method, path, **arguments)
        full = full_client.request(method, path, **arguments)
        assert lean.status_code >= 400, (path, lean.text)
        assert (lean.status_code, lean.content) == (full.status_code, full.content), path
        assert _headers(lean) == _headers(full), path


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in {"date", "x-request-id"}}


def test_a_refused_command_charges_its_token_once(database_url: str) -> None:
    services = build_services(database_url, rate_limit_per_minute=3)
    try:
        token = services.tokens.issue(Role.ADMIN).token
        with TestClient(create_app(services)) as client:
            path = "/v1/parties/no-such-party/signing-keys"
            answers = [
                client.post(path, json={"public_key": 5}, headers=bearer(token)).status_code
                for _ in range(4)
            ]
        assert answers == [422, 422, 422, 429]
    finally:
        services.close()


def test_a_public_read_charges_its_address_once(database_url: str) -> None:
    # The public routes' limit is their router's dependency: it has no parameter to go to.
    services = build_services(database_url, anonymous_rate_limit_per_minute=3)
    try:
        with TestClient(create_app(services)) as client:
            answers = [client.get("/v1/public/stats").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
    finally:
        services.close()


def test_routes_included_flat_answer_a_wrong_method_as_included_ones_did(
    services: Services,
) -> None:
    # The API's routes are the application's own (ADR 42): a path that exists answers
    # another method 405 with the methods it has, and each operation is documented once.
    with TestClient(create_app(services)) as client:
        answer = client.delete("/v1/agreements/some-id/signatures")
        document = client.get("/openapi.json").json()
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    documented = [
        (route.path, method)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, fastapi.routing.APIRoute) and route.include_in_schema
        for method in route.methods
    ]
    assert len(ids) == len(set(ids)) == len(documented) > 80


def test_include_flat_refuses_what_it_cannot_copy() -> None:
    mounting = fastapi.APIRouter()
    mounting.mount("/files", fastapi.FastAPI())
    with pytest.raises(TypeError, match="only API routes"):
        include_flat(fastapi.FastAPI(), mounting)
    limited = fastapi.APIRouter()
    limited.add_api_route("/upload", unused, methods=["POST"], max_body_size=1024)
    with pytest.raises(TypeError, match="body limit of its own"):
        include_flat(fastapi.FastAPI(), limited)
