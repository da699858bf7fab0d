"""The verifiable history over HTTP: checkpoints, proofs, verification and evidence.

Tampering done with SQL directly on the database is reported by the verification endpoint,
and an evidence bundle downloaded over HTTP verifies offline.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, build_services, content
from tests.support.integrity import RawDatabase
from tris.application.errors import ServerKeyError
from tris.bootstrap import Services
from tris.config import load_settings, parse_database_url
from tris.domain.proofs.merkle import verify_consistency, verify_inclusion
from tris.domain.proofs.offline import is_anchored, verify_bundle
from tris.domain.proofs.signed import checkpoint_payload, server_signature_valid
from tris.interfaces.http.app import create_app

PROBLEM = "application/problem+json"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """Services whose read models follow each command in process (no projection workers)."""
    built = build_services(database_url, projections="inline")
    yield built
    built.close()


def agreement_in_force(api: Api, trio: Trio) -> str:
    """An agreement all three parties signed, with a confirmed delivery."""
    proposed = api.propose(trio.state, content(trio.business, trio.civil, trio.state))
    assert proposed.status_code == 201, proposed.text
    agreement_id = str(proposed.json()["id"])
    api.conclude(agreement_id, 1, trio.state, trio.business, trio.civil)
    recorded = api.post(
        trio.business,
        agreement_id,
        "commitments/C1/fulfilments",
        {"quantity": "4", "delivered_on": str(date(2026, 5, 1)), "note": "Vier Stunden gekocht"},
    )
    assert recorded.status_code == 201, recorded.text
    confirmed = api.post(
        trio.civil, agreement_id, f"fulfilments/{recorded.json()['id']}/confirmation"
    )
    assert confirmed.status_code == 200, confirmed.text
    api.checkpoint()  # as the schedule would: readers never make the server sign
    return agreement_id


def checks(api: Api, agreement_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/agreements/{agreement_id}/verification", headers=headers or api.admin
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def failed(verification: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in verification["checks"] if not c["ok"]}


def test_an_agreement_verifies_and_its_downloaded_bundle_checks_offline(
    api: Api, trio: Trio
) -> None:
    agreement_id = agreement_in_force(api, trio)
    verification = checks(api, agreement_id, trio.civil.headers())
    assert verification["ok"] is True, failed(verification)
    assert verification["checks"][0]["name"] == "chain"
    assert sum(c["name"].startswith("signature of revision 1") for c in verification["checks"]) == 3

    auditor = {"Authorization": f"Bearer {api.issue_token('auditor')}"}
    response = api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=auditor)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    results = verify_bundle(response.content)
    assert [c for c in results if not c.ok] == []
    assert not is_anchored(results)
    key = api.client.get("/v1/server-key", headers=auditor).json()
    raw_key = base64.b64decode(key["public_key"])
    assert key["fingerprint"] == hashlib.sha256(raw_key).hexdigest()
    for pin in (key["fingerprint"], key["public_key"]):
        anchored = verify_bundle(response.content, server_key=pin)
        assert [c for c in anchored if not c.ok] == [] and is_anchored(anchored)


def test_checkpoints_and_proofs_verify_with_the_published_server_key(api: Api, trio: Trio) -> None:
    agreement_id = agreement_in_force(api, trio)
    researcher = {"Authorization": f"Bearer {api.issue_token('researcher')}"}
    key = api.client.get("/v1/server-key", headers=researcher).json()
    assert key["algorithm"] == "Ed25519"

    first = api.client.get("/v1/checkpoints/latest", headers=researcher).json()
    message = checkpoint_payload(first["tree_size"], first["root_hash"], first["issued_at"])
    assert server_signature_valid(key["public_key"], first["signature"], message)

    positions = [item["position"] for item in api.history(agreement_id)]
    for position in positions:
        proof = api.client.get(
            "/v1/proofs/inclusion",
            params={"position": position, "tree_size": first["tree_size"]},
            headers=researcher,
        ).json()
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["path"]],
            bytes.fromhex(first["root_hash"]),
        )

    api.post(trio.state, agreement_id, "termination", {"reason": "Projekt beendet"})
    issued = api.client.post("/v1/checkpoints", headers=api.admin)
    assert issued.status_code == 201, issued.text
    second = issued.json()
    assert second["tree_size"] > first["tree_size"]
    assert api.client.get("/v1/checkpoints/latest", headers=researcher).json() == second
    proof = api.client.get(
        "/v1/proofs/consistency",
        params={"first": first["tree_size"], "second": second["tree_size"]},
        headers=researcher,
    ).json()
    assert verify_consistency(
        first["tree_size"],
        second["tree_size"],
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second["root_hash"]),
        [bytes.fromhex(p) for p in proof["path"]],
    )


def test_the_server_key_is_published_without_a_token(api: Api) -> None:
    published = api.client.get("/v1/server-key")
    assert published.status_code == 200, published.text
    assert published.json()["algorithm"] == "Ed25519"
    assert published.json() == api.client.get("/v1/server-key", headers=api.admin).json()
    # The key is public: a token is neither needed nor checked.
    stray = api.client.get("/v1/server-key", headers={"Authorization": "Bearer tris_unknown"})
    assert stray.status_code == 200 and stray.json() == published.json()
    operation = api.client.get("/openapi.json").json()["paths"]["/v1/server-key"]["get"]
    assert not operation.get("security")
    assert "401" not in operation["responses"]


def test_integrity_routes_answer_problems_for_bad_requests(api: Api, trio: Trio) -> None:
    agreement_id = agreement_in_force(api, trio)
    cases = [
        ("get", "/v1/checkpoints/latest", None, 401),
        ("post", "/v1/checkpoints", trio.state.headers(), 403),
        ("get", "/v1/proofs/inclusion?position=999999", api.admin, 404),
        ("get", "/v1/proofs/inclusion?position=1&tree_size=999999", api.admin, 404),
        ("get", "/v1/proofs/inclusion?position=x", api.admin, 422),
        ("get", "/v1/proofs/consistency?first=5&second=2", api.admin, 404),
        ("get", "/v1/proofs/consistency?first=0&second=-1", api.admin, 422),
        ("get", f"/v1/agreements/{agreement_id}/verification", trio.outsider.headers(), 404),
        ("get", f"/v1/agreements/{agreement_id}/evidence", trio.outsider.headers(), 404),
        ("get", "/v1/agreements/not-an-id/evidence", api.admin, 404),
    ]
    researcher = {"Authorization": f"Bearer {api.issue_token('researcher')}"}
    cases.append(("get", f"/v1/agreements/{agreement_id}/evidence", researcher, 403))
    for method, path, headers, status in cases:
        response = getattr(api.client, method)(path, headers=headers or {})
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == PROBLEM


Tamper = Callable[[RawDatabase, str], None]


def _change_data(raw: RawDatabase, agreement_id: str) -> None:
    version = raw.version_of_type(agreement_id, "FulfilmentRecorded")
    raw.replace_in_state(agreement_id, version, "Vier Stunden", "Vierzig Stunden")


def _delete_event(raw: RawDatabase, agreement_id: str) -> None:
    raw.delete_event(agreement_id, raw.version_of_type(agreement_id, "Concluded"))


def _insert_event(raw: RawDatabase, agreement_id: str) -> None:
    raw.insert_copy(agreement_id, raw.version_of_type(agreement_id, "Signed"))


def _swap_events(raw: RawDatabase, agreement_id: str) -> None:
    signed = [v for v, t, _, _ in raw.events(agreement_id) if t.endswith(".Signed")]
    raw.swap_positions(
        raw.position_of(agreement_id, signed[0]), raw.position_of(agreement_id, signed[1])
    )


def _rewrite_chain(raw: RawDatabase, agreement_id: str) -> None:
    raw.rewrite_chain(agreement_id, lambda v, s: s.replace(b'"quantity":"10"', b'"quantity":"1"'))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_change_data, "chain"),
        (_delete_event, "chain"),
        (_insert_event, "chain"),
        (_swap_events, "inclusion of version"),
        (_rewrite_chain, "signature of revision 1"),
    ],
    ids=["changed-data", "deleted-event", "inserted-event", "swapped-events", "rewritten-chain"],
)
def test_tampering_in_the_database_fails_the_verification_endpoint(
    api: Api, trio: Trio, services: Services, tamper: Tamper, expected: str
) -> None:
    agreement_id = agreement_in_force(api, trio)
    assert api.client.post("/v1/checkpoints", headers=api.admin).status_code == 201
    assert checks(api, agreement_id)["ok"] is True

    tamper(RawDatabase(services), agreement_id)

    verification = checks(api, agreement_id)
    assert verification["ok"] is False
    assert any(name.startswith(expected) for name in failed(verification)), failed(verification)
    bundle = api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=api.admin)
    assert bundle.status_code == 200
    assert any(not c.ok for c in verify_bundle(bundle.content))


def test_the_server_does_not_start_on_postgresql_without_its_key(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(database_url=database_url, projections="inline")
    backend, parts = parse_database_url(database_url)
    app = create_app(settings=settings)
    if backend == "sqlite":
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
        assert Path(parts["path"] + ".server-key").exists()
        return
    with pytest.raises(ServerKeyError, match="TRIS_SERVER_KEY_FILE"), TestClient(app):
        pass  # pragma: no cover - the lifespan refuses to start


def test_a_reader_never_makes_the_server_sign_a_checkpoint(
    api: Api, trio: Trio, services: Any
) -> None:
    """The attack: any reader's GET of a proof made the server sign a new checkpoint."""
    proposed = api.propose(trio.state, content(trio.business, trio.state))
    agreement_id = proposed.json()["id"]
    auditor = {"Authorization": f"Bearer {api.issue_token('auditor')}"}
    none_yet = api.client.get("/v1/checkpoints/latest", headers=auditor)
    assert none_yet.status_code == 404
    position = api.history(agreement_id)[0]["position"]
    for _ in range(3):
        verification = checks(api, agreement_id, auditor)
        assert failed(verification).keys() >= {"checkpoint"}
        pending = api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=auditor)
        assert pending.status_code == 409
        assert pending.json()["type"].endswith("/checkpoint-pending")
        proof = api.client.get(
            "/v1/proofs/inclusion", params={"position": position}, headers=auditor
        )
        assert proof.status_code == 404
    assert services.integrity.log.checkpoints() == []
    signed = api.checkpoint()
    assert checks(api, agreement_id, auditor)["ok"] is True
    assert (
        api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=auditor).status_code
        == 200
    )
    assert [c.tree_size for c in services.integrity.log.checkpoints()] == [signed["tree_size"]]
