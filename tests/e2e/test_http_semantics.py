"""HTTP rules: authentication, problems, If-Match, sizes, rates, unknown routes, 500s."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from tests.support.http import Api, Trio, bearer, build_services, content
from tris.application.access import Role
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app
from tris.interfaces.http.ratelimit import RateLimiter
from tris.storage.errors import WriterGoneError

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response_status: int, body: dict[str, object], status: int) -> None:
    assert response_status == status
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert str(body["type"]).startswith("https://tris.example/problems/")
    assert body["detail"]


def test_the_health_probe_needs_no_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "failing_read_models": []}


def test_a_request_held_in_its_route_leaves_the_server_answering_others(
    client: TestClient, services: Services, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A route that waits (here: for the test; in life: for the database) waits on a thread
    # of its own, not on the event loop every request shares.
    entered, release = threading.Event(), threading.Event()
    read = services.agreements.get

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return read(*args, **kwargs)

    monkeypatch.setattr(services.agreements, "get", held)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(
            client.get, f"/v1/agreements/{uuid.uuid4()}", headers=bearer(admin_token)
        )
        assert entered.wait(10)
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/tokens", headers=bearer(admin_token)).status_code == 200
        assert not slow.done()
        release.set()
        assert slow.result(timeout=10).status_code == 404


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/agreements/{agreement_id}/signatures" in spec["paths"]
    sign = spec["paths"]["/v1/agreements/{agreement_id}/signatures"]["post"]
    assert {p["name"] for p in sign["parameters"]} >= {"If-Match", "Idempotency-Key"}
    assert "application/problem+json" in sign["responses"]["412"]["content"]
    assert "ETag" in sign["responses"]["201"]["headers"]
    assert "Retry-After" in sign["responses"]["429"]["headers"]
    propose = spec["paths"]["/v1/agreements"]["post"]
    assert "Location" in propose["responses"]["201"]["headers"]
    assert client.get("/docs").status_code == 200
    # Every group of operations is described, agreements first.
    used = {tag for item in spec["paths"].values() for op in item.values() for tag in op["tags"]}
    described = [tag["name"] for tag in spec["tags"] if tag["description"]]
    assert described[0] == "agreements"
    assert set(described) == used


def test_every_operation_documents_its_problems_and_an_unavailable_database(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if path != "/healthz"
    ]
    assert len(operations) >= 30
    public = {label for label, operation in operations if not operation.get("security")}
    # The server key and everything under /v1/public/ need no token; nothing else.
    under_public = {
        label for label, _ in operations if label.split(" ")[1].startswith("/v1/public/")
    }
    assert {"GET /v1/public/markets", "GET /v1/public/markets/{market_id}/stats"} <= under_public
    assert public == {"GET /v1/server-key"} | under_public
    for label, operation in operations:
        responses = operation["responses"]
        # Only a token can be refused or run out of requests.
        statuses = ("500", "503") if label in public else ("401", "429", "500", "503")
        for status in statuses:
            assert status in responses, (label, status)
            assert "application/problem+json" in responses[status]["content"], (label, status)
        if label not in public:
            assert "Retry-After" in responses["429"]["headers"], label
        assert "Retry-After" in responses["503"]["headers"], label


def test_the_log_position_header_is_documented_wherever_it_is_sent(api: Api, trio: Trio) -> None:
    proposed = api.propose(trio.state, content(trio.business, trio.state))
    assert int(proposed.headers["X-TRIS-Position"]) >= 1
    listed = api.client.get("/v1/agreements", headers=api.admin)
    assert int(listed.headers["X-TRIS-Position"]) >= 1
    spec = api.client.get("/openapi.json").json()
    sending = [
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("post", "delete") and "token" not in path and "checkpoint" not in path
    ]
    sending += [("/v1/agreements", "get"), ("/v1/stats", "get")]
    sending += [("/v1/parties/{party_id}/commitments", "get")]
    assert len(sending) >= 18
    for path, method in sending:
        responses = spec["paths"][path][method]["responses"]
        success = next(status for status in responses if status.startswith("2"))
        assert "X-TRIS-Position" in responses[success].get("headers", {}), (method, path)


def test_a_request_without_a_valid_token_is_unauthorised(client: TestClient) -> None:
    for headers in ({}, bearer("tris_not-a-token"), {"Authorization": "Basic abc"}):
        response = client.get("/v1/parties", headers=headers)
        assert_problem(response.status_code, response.json(), 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


def test_unknown_routes_and_methods_answer_problems(api: Api) -> None:
    missing = api.client.get("/v1/nothing-here", headers=api.admin)
    assert_problem(missing.status_code, missing.json(), 404)
    wrong = api.client.put("/v1/parties", headers=api.admin)
    assert_problem(wrong.status_code, wrong.json(), 405)
    assert "GET" in wrong.headers["Allow"]


def test_unknown_json_fields_are_refused(api: Api) -> None:
    response = api.client.post(
        "/v1/parties", json={"name": "X", "sector": "state", "colour": "blue"}, headers=api.admin
    )
    assert_problem(response.status_code, response.json(), 422)
    assert "colour" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "body.colour"


def test_unknown_json_fields_are_refused_on_a_command_without_fields(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    api.conclude(agreement_id, 1, trio.state, trio.business)
    delivery = {"quantity": "2", "delivered_on": "2026-05-01", "note": "zwei"}
    recorded = api.post(trio.business, agreement_id, "commitments/C1/fulfilments", delivery)
    path = f"fulfilments/{recorded.json()['id']}/confirmation"
    refused = api.post(trio.state, agreement_id, path, {"note": "danke"})
    assert_problem(refused.status_code, refused.json(), 422)
    assert refused.json()["errors"][0]["field"] == "body.note"
    assert len(api.history(agreement_id)) == 5
    assert api.post(trio.state, agreement_id, path, {}).status_code == 200


def test_malformed_json_is_refused(api: Api) -> None:
    response = api.client.post(
        "/v1/parties",
        content=b'{"name": ',
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert_problem(response.status_code, response.json(), 422)


def test_a_write_without_if_match_is_refused_and_a_stale_one_too(api: Api, trio: Trio) -> None:
    created = api.propose(trio.state, content(trio.business, trio.state))
    agreement_id = created.json()["id"]
    path = f"/v1/agreements/{agreement_id}/declination"
    body = {"reason": "Nein"}
    missing = api.client.post(path, json=body, headers=trio.business.headers())
    assert_problem(missing.status_code, missing.json(), 428)
    stale = api.client.post(path, json=body, headers=trio.business.headers(**{"If-Match": '"7"'}))
    assert_problem(stale.status_code, stale.json(), 412)
    assert stale.json()["type"] == "https://tris.example/problems/version-mismatch"
    malformed = api.client.post(
        path, json=body, headers=trio.business.headers(**{"If-Match": "version one"})
    )
    assert_problem(malformed.status_code, malformed.json(), 400)
    assert "If-Match" in malformed.json()["detail"]
    history_length = len(api.history(agreement_id))
    assert history_length == 1


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', "1"])
def test_if_match_accepts_strong_weak_and_bare_versions(api: Api, trio: Trio, tag: str) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    response = api.client.post(
        f"/v1/agreements/{agreement_id}/declination",
        json={"reason": "Nein"},
        headers=trio.business.headers(**{"If-Match": tag}),
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'


def test_an_oversized_body_is_refused(api: Api) -> None:
    limit = 1024 * 1024
    big = b'{"name": "' + b"x" * limit + b'", "sector": "state"}'
    declared = api.client.post(
        "/v1/parties", content=big, headers={**api.admin, "Content-Type": "application/json"}
    )
    assert_problem(declared.status_code, declared.json(), 413)
    assert declared.json()["type"] == "https://tris.example/problems/payload-too-large"

    def chunks() -> Iterator[bytes]:
        yield big[: limit // 2]
        yield big[limit // 2 :]

    streamed = api.client.post(
        "/v1/parties", content=chunks(), headers={**api.admin, "Content-Type": "application/json"}
    )
    assert_problem(streamed.status_code, streamed.json(), 413)
    listed = api.client.get("/v1/parties", headers=api.admin).json()["items"]
    assert listed == []


def test_too_many_requests_for_one_token_are_refused(database_url: str) -> None:
    services = build_services(database_url, rate_limit_per_minute=3)
    try:
        token = services.tokens.issue(Role.ADMIN).token
        other = services.tokens.issue(Role.AUDITOR).token
        with TestClient(create_app(services)) as client:
            for _ in range(3):
                assert client.get("/v1/parties", headers=bearer(token)).status_code == 200
            refused = client.get("/v1/parties", headers=bearer(token))
            assert_problem(refused.status_code, refused.json(), 429)
            assert int(refused.headers["Retry-After"]) >= 1
            assert client.get("/v1/parties", headers=bearer(other)).status_code == 200
    finally:
        services.close()


def test_requests_without_a_valid_token_are_limited_per_address(database_url: str) -> None:
    services = build_services(database_url, anonymous_rate_limit_per_minute=3)
    try:
        token = services.tokens.issue(Role.ADMIN).token
        with TestClient(create_app(services)) as client:
            answers = [
                client.get("/v1/parties").status_code,
                client.get("/v1/parties", headers=bearer("tris_not-a-token")).status_code,
                client.get("/v1/server-key").status_code,
            ]
            assert answers == [401, 401, 200]
            refused = client.get("/v1/parties", headers=bearer("tris_guess"))
            assert_problem(refused.status_code, refused.json(), 429)
            assert int(refused.headers["Retry-After"]) >= 1
            assert client.get("/v1/server-key").status_code == 429
            # A valid token is charged to its own bucket, not to the address.
            assert client.get("/v1/parties", headers=bearer(token)).status_code == 200
    finally:
        services.close()


def test_an_unknown_token_costs_one_database_read_not_one_per_request(
    database_url: str,
) -> None:
    services = build_services(database_url)
    try:
        reads = 0
        active = services.tokens.rows.active

        def counted(digest: str) -> object:
            nonlocal reads
            reads += 1
            return active(digest)

        services.tokens.rows.active = counted  # type: ignore[method-assign]
        for _ in range(20):
            assert services.tokens.authenticate("tris_wrong-but-well-formed") is None
        assert reads == 1
        issued = services.tokens.issue(Role.AUDITOR)
        assert services.tokens.authenticate(issued.token) is not None
    finally:
        services.close()


def test_the_token_bucket_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    for _ in range(60):
        assert limiter.acquire("t") is None
    assert limiter.acquire("t") == 1
    now[0] += 1.0
    assert limiter.acquire("t") is None


def test_the_limiter_keeps_a_bounded_number_of_buckets_and_still_limits() -> None:
    """Clients from ever new addresses cannot grow the limiter's memory without bound."""
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0], max_keys=100)
    for n in range(1000):
        limiter.acquire(f"198.51.100.{n}")
        now[0] += 0.001
        assert len(limiter) <= 100
    for _ in range(60):
        limiter.acquire("busy")
    assert limiter.acquire("busy") == 1  # a client in its minute keeps its empty bucket
    for n in range(150):  # buckets that have filled up again are forgotten first
        limiter.acquire(f"203.0.113.{n}")
    now[0] += 0.5
    assert limiter.acquire("busy") == 1


def test_an_unexpected_failure_answers_500_without_a_traceback(api: Api) -> None:
    app = api.client.app

    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", explode)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert_problem(response.status_code, response.json(), 500)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        OperationalError("canceling statement due to statement timeout"),
        PoolTimeout("couldn't get a connection after 10.00 sec"),
        WriterGoneError("the writer process went away during the save"),
    ],
    ids=["statement-timeout", "lock-timeout", "library-timeout", "pool-exhausted", "writer-gone"],
)
def test_a_database_timeout_answers_503_with_retry_after(api: Api, error: Exception) -> None:
    app = api.client.app

    def time_out() -> None:
        raise error

    app.add_api_route("/slow", time_out)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/slow")
    assert_problem(response.status_code, response.json(), 503)
    assert response.json()["type"] == "https://tris.example/problems/service-unavailable"
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_lone_surrogate_in_a_json_string_is_refused(api: Api) -> None:
    response = api.client.post(
        "/v1/parties",
        content=b'{"name": "\\ud800", "sector": "state"}',
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert_problem(response.status_code, response.json(), 422)
    assert api.client.get("/v1/parties", headers=api.admin).json()["items"] == []
