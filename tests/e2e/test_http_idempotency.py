"""Idempotency-Key over HTTP: replays, reuse with another body, restarts, token issues."""

from __future__ import annotations

import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, bearer, build_services, content, key_body
from tests.support.integrity import RawDatabase
from tris.application.access import Role
from tris.bootstrap import Services
from tris.domain.signing import canonical_json
from tris.interfaces.http.app import create_app
from tris.interfaces.http.deps import FINGERPRINT_PURPOSE, request_fingerprint


def test_a_retried_proposal_gets_the_first_answer_and_no_new_agreement(
    api: Api, trio: Trio
) -> None:
    body = content(trio.business, trio.state)
    headers = trio.state.headers(**{"Idempotency-Key": "propose-1"})
    first = api.client.post("/v1/agreements", json=body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = api.client.post("/v1/agreements", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert len(api.history(first.json()["id"])) == 1


def test_a_retried_command_adds_no_event(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    path = f"/v1/agreements/{agreement_id}/declination"
    headers = trio.business.headers(**{"Idempotency-Key": "decline-1", "If-Match": '"1"'})
    first = api.client.post(path, json={"reason": "Nein"}, headers=headers)
    assert first.status_code == 200
    events = len(api.history(agreement_id))
    again = api.client.post(path, json={"reason": "Nein"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.history(agreement_id)) == events == 2


def test_the_same_key_with_another_body_is_refused(api: Api, trio: Trio) -> None:
    headers = trio.state.headers(**{"Idempotency-Key": "propose-2"})
    first = api.client.post(
        "/v1/agreements", json=content(trio.business, trio.state), headers=headers
    )
    assert first.status_code == 201
    other = api.client.post(
        "/v1/agreements",
        json=content(trio.business, trio.state, title="Anderer Titel"),
        headers=headers,
    )
    assert other.status_code == 422
    assert other.json()["type"] == "https://tris.example/problems/idempotency-key-reused"


def test_the_fingerprint_ignores_json_formatting(api: Api, trio: Trio) -> None:
    headers = trio.state.headers(
        **{"Idempotency-Key": "propose-3", "Content-Type": "application/json"}
    )
    body = content(trio.business, trio.state)
    compact = json.dumps(body, separators=(",", ":")).encode()
    spaced = json.dumps(body, indent=2, sort_keys=True).encode()
    first = api.client.post("/v1/agreements", content=compact, headers=headers)
    again = api.client.post("/v1/agreements", content=spaced, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_is_still_honoured_after_a_restart(database_url: str) -> None:
    services = build_services(database_url)
    try:
        with TestClient(create_app(services)) as client:
            api = Api(client, services.tokens.issue(Role.ADMIN).token)
            state = api.partner("Bezirksamt Mitte", "state")
            business = api.partner("Kiezbäckerei GmbH", "business")
            headers = state.headers(**{"Idempotency-Key": "restart-1"})
            body = content(business, state)
            first = client.post("/v1/agreements", json=body, headers=headers)
            assert first.status_code == 201
    finally:
        services.close()
    restarted = build_services(database_url)
    try:
        with TestClient(create_app(restarted)) as client:
            again = client.post("/v1/agreements", json=body, headers=headers)
            assert again.status_code == 201
            assert again.headers["Idempotent-Replayed"] == "true"
            assert again.json() == first.json()
            history = client.get(
                f"/v1/agreements/{first.json()['id']}/history", headers=state.headers()
            )
            assert len(history.json()["items"]) == 1
    finally:
        restarted.close()


def test_a_retried_party_registration_registers_one_party(api: Api) -> None:
    headers = {**api.admin, "Idempotency-Key": "party-1"}
    body = {"name": "Bezirksamt Mitte", "sector": "state"}
    first = api.client.post("/v1/parties", json=body, headers=headers)
    again = api.client.post("/v1/parties", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(api.client.get("/v1/parties", headers=api.admin).json()["items"]) == 1


def test_a_retried_token_issue_answers_the_same_token_and_issues_no_other(
    api: Api, trio: Trio
) -> None:
    headers = {**api.admin, "Idempotency-Key": "token-1"}
    first = api.client.post("/v1/tokens", json={"role": "auditor"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = api.client.post("/v1/tokens", json={"role": "auditor"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.client.post("/v1/tokens", json={"role": "researcher"}, headers=headers)
    assert other.status_code == 422
    listed = api.client.get("/v1/tokens", headers=api.admin).json()["items"]
    assert [t["role"] for t in listed].count("auditor") == 1
    assert api.client.get("/v1/parties", headers=bearer(first.json()["token"])).status_code == 200

    partner_headers = {**api.admin, "Idempotency-Key": "token-2"}
    path = f"/v1/parties/{trio.civil.party_id}/tokens"
    issued = api.client.post(path, headers=partner_headers)
    repeated = api.client.post(path, headers=partner_headers)
    assert issued.status_code == repeated.status_code == 201
    assert repeated.json() == issued.json()
    assert issued.json()["party_id"] == trio.civil.party_id


def test_the_secret_of_a_token_issued_under_a_key_is_stored_nowhere(api: Api, trio: Trio) -> None:
    headers = {**api.admin, "Idempotency-Key": "token-3"}
    secret = api.client.post("/v1/tokens", json={"role": "researcher"}, headers=headers).json()[
        "token"
    ]
    services = api.client.app.state.services  # type: ignore[attr-defined]
    with services.store.database.read() as cur:
        for table in ("tris_tokens", "tris_idempotency"):
            cur.execute(f"SELECT * FROM {table}")
            assert secret not in repr(cur.fetchall())


def test_a_request_whose_key_is_in_flight_is_refused(api: Api, trio: Trio) -> None:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    services.store._in_flight.add((trio.state.token_id, "busy-1"))
    response = api.client.post(
        "/v1/agreements",
        json=content(trio.business, trio.state),
        headers=trio.state.headers(**{"Idempotency-Key": "busy-1"}),
    )
    assert response.status_code == 409
    assert response.json()["type"] == "https://tris.example/problems/idempotency-in-flight"


def test_a_malformed_idempotency_key_is_refused(api: Api) -> None:
    response = api.client.post(
        "/v1/parties",
        json={"name": "X", "sector": "state"},
        headers={**api.admin, "Idempotency-Key": "x" * 300},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_a_retried_checkpoint_issue_gets_the_first_checkpoint_even_after_a_restart(
    database_url: str,
) -> None:
    services = build_services(database_url)
    try:
        with TestClient(create_app(services)) as client:
            admin = bearer(services.tokens.issue(Role.ADMIN).token)
            headers = {**admin, "Idempotency-Key": "checkpoint-1"}
            first = client.post("/v1/checkpoints", headers=headers)
            assert first.status_code == 201, first.text
            assert "Idempotent-Replayed" not in first.headers
            kept = services.integrity.log.checkpoints()
            again = client.post("/v1/checkpoints", headers=headers)
            assert again.status_code == 201
            assert again.json() == first.json()
            assert again.headers["Idempotent-Replayed"] == "true"
            assert services.integrity.log.checkpoints() == kept
    finally:
        services.close()
    restarted = build_services(database_url)
    try:
        with TestClient(create_app(restarted)) as client:
            again = client.post("/v1/checkpoints", headers=headers)
            assert again.status_code == 201
            assert again.headers["Idempotent-Replayed"] == "true"
            assert again.json() == first.json()
            assert restarted.integrity.log.checkpoints() == kept
            fresh = client.post("/v1/checkpoints", headers={**admin, "Idempotency-Key": "c-2"})
            assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
            assert fresh.json() != first.json()
    finally:
        restarted.close()


def test_a_checkpoint_key_reused_with_another_request_is_refused(api: Api) -> None:
    headers = {**api.admin, "Idempotency-Key": "checkpoint-2"}
    assert api.client.post("/v1/checkpoints", headers=headers).status_code == 201
    services = api.client.app.state.services  # type: ignore[attr-defined]
    kept = services.integrity.log.checkpoints()
    other_body = api.client.post("/v1/checkpoints", json={"note": "noch einer"}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["type"] == "https://tris.example/problems/idempotency-key-reused"
    other_route = api.client.post(
        "/v1/parties", json={"name": "X", "sector": "state"}, headers=headers
    )
    assert other_route.status_code == 422
    assert services.integrity.log.checkpoints() == kept


def test_a_checkpoint_issue_whose_key_is_in_flight_is_refused(api: Api) -> None:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    admin_id = services.tokens.authenticate(api.admin_token).token_id
    services.store._in_flight.add((admin_id, "busy-checkpoint"))
    response = api.client.post(
        "/v1/checkpoints", headers={**api.admin, "Idempotency-Key": "busy-checkpoint"}
    )
    assert response.status_code == 409
    assert response.json()["type"] == "https://tris.example/problems/idempotency-in-flight"


def test_the_kept_fingerprint_is_keyed_so_the_database_alone_confirms_no_body(
    api: Api, services: Services
) -> None:
    """A thief of the database who guesses a registration's contact cannot confirm it by
    hashing the guess: the fingerprint is an HMAC under a key derived from the server key."""
    body = {
        "name": "Verein Probe",
        "sector": "civil_society",
        "contacts": [{"name": "Erika Rate", "email": "erika@rate.example"}],
    }
    headers = {**api.admin, "Idempotency-Key": "register-probe"}
    assert api.client.post("/v1/parties", json=body, headers=headers).status_code == 201
    rows = services.store.database
    with rows.read() as cur:
        cur.execute(
            "SELECT fingerprint FROM tris_idempotency WHERE idem_key=%s", ("register-probe",)
        )
        (kept,) = cur.fetchone()
    plain = hashlib.sha256()
    for part in (b"POST", b"/v1/parties", canonical_json(body)):
        plain.update(len(part).to_bytes(8, "big"))
        plain.update(part)
    assert kept != plain.hexdigest()
    key = services.integrity.derived_key(FINGERPRINT_PURPOSE)
    assert kept == request_fingerprint(key, "POST", "/v1/parties", json.dumps(body).encode())


def test_an_answer_kept_by_an_earlier_release_is_replayed_in_the_contracts_form(
    api: Api, trio: Trio, services: Services
) -> None:
    # Releases before answers were serialised by the routes themselves kept the body as
    # the application built it (`revoked` left out); the contract's form is still answered.
    private = Ed25519PrivateKey.generate()
    path = f"/v1/parties/{trio.civil.party_id}/signing-keys"
    body = key_body(private, trio.civil.party_id)
    headers = trio.civil.headers(**{"Idempotency-Key": "key-old-release"})
    first = api.client.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["revoked"] is False
    raw = RawDatabase(services)
    ((kept,),) = raw.run(
        "SELECT body FROM tris_idempotency WHERE idem_key=%s", ("key-old-release",)
    )
    old = {k: v for k, v in json.loads(kept).items() if k != "revoked"}
    raw.run(
        "UPDATE tris_idempotency SET body=%s WHERE idem_key=%s",
        (json.dumps(old, sort_keys=True, separators=(",", ":")), "key-old-release"),
    )
    again = api.client.post(path, json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_body_too_deep_to_parse_on_a_route_without_one_is_fingerprinted_by_its_bytes(
    api: Api,
) -> None:
    headers = {
        **api.admin,
        "Idempotency-Key": "checkpoint-deep",
        "Content-Type": "application/json",
    }
    deep = b"[" * 100_000
    first = api.client.post("/v1/checkpoints", content=deep, headers=headers)
    assert first.status_code == 201, first.text
    again = api.client.post("/v1/checkpoints", content=deep, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    other = api.client.post("/v1/checkpoints", content=deep + b"[", headers=headers)
    assert other.status_code == 422, other.text
