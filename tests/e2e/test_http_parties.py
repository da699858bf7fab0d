"""Parties, tokens and signing keys over HTTP."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.http import Api, Trio, bearer, content, key_body, public_key_b64
from tris.domain.signing import key_registration


def test_an_admin_registers_a_party_with_contacts(api: Api) -> None:
    response = api.client.post(
        "/v1/parties",
        json={
            "name": "Kiezbäckerei GmbH",
            "sector": "business",
            "region": "Berlin-Moabit",
            "description": "Bäckerei mit Ausbildungsbetrieb",
            "website": "https://kiezbaeckerei.example",
            "contacts": [{"name": "Max Muster", "email": "max@example.org", "phone": "030 2"}],
        },
        headers=api.admin,
    )
    assert response.status_code == 201, response.text
    party = response.json()
    assert response.headers["Location"] == f"/v1/parties/{party['id']}"
    assert party["name"] == "Kiezbäckerei GmbH" and party["sector"] == "business"
    assert party["region"] == "Berlin-Moabit"
    contact = party["contacts"][0]
    assert contact["id"] and contact["email"] == "max@example.org"

    read = api.client.get(f"/v1/parties/{party['id']}", headers=api.admin)
    assert read.status_code == 200
    assert read.json()["contacts"][0]["id"] == contact["id"]


def test_a_network_registers_with_its_register_identifiers(api: Api) -> None:
    response = api.client.post(
        "/v1/parties",
        json={
            "name": "Netzwerk der Berliner Unternehmensnetzwerke e.V.",
            "sector": "business",
            "network": True,
            "identifiers": [
                {"scheme": "DE-VR", "id": "VR 41234 B"},
                {"scheme": "XI-LEI", "id": "5299000J2N45DDNE4Y28"},
            ],
        },
        headers=api.admin,
    )
    assert response.status_code == 201, response.text
    party = api.client.get(f"/v1/parties/{response.json()['id']}", headers=api.admin).json()
    assert party["network"] is True
    assert party["identifiers"] == [
        {"scheme": "DE-VR", "id": "VR 41234 B"},
        {"scheme": "XI-LEI", "id": "5299000J2N45DDNE4Y28"},
    ]
    plain = api.register_party("Kiezbäckerei GmbH", "business")
    assert plain["network"] is False and plain["identifiers"] == []
    for bad in (
        {"network": "yes"},
        {"identifiers": [{"scheme": "handelsregister", "id": "HRB 1"}]},
        {"identifiers": [{"scheme": "DE-CR", "id": ""}]},
        {"identifiers": [{"scheme": "DE-CR", "id": "HRB\n1"}]},
        {"identifiers": [{"scheme": "DE-CR", "id": "HRB 1"}] * 2},
        {"identifiers": [{"scheme": "DE-CR", "id": "HRB 1", "url": "x"}]},
    ):
        refused = api.client.post(
            "/v1/parties", json={"name": "X", "sector": "business", **bad}, headers=api.admin
        )
        assert refused.status_code == 422, (bad, refused.text)


def test_contacts_are_shown_only_to_admins_auditors_and_the_party_itself(
    api: Api, trio: Trio
) -> None:
    path = f"/v1/parties/{trio.civil.party_id}"
    auditor = bearer(api.issue_token("auditor"))
    researcher = bearer(api.issue_token("researcher"))
    for headers in (api.admin, auditor, trio.civil.headers()):
        assert api.client.get(path, headers=headers).json()["contacts"][0]["name"] == (
            "Erika Muster"
        )
    for headers in (researcher, trio.business.headers()):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 200
        assert "contacts" not in response.json()
        assert "Erika" not in response.text and "erika@example.org" not in response.text
    listed = api.client.get("/v1/parties", headers=researcher)
    assert listed.status_code == 200 and "Erika" not in listed.text


def test_parties_are_listed_in_pages(api: Api) -> None:
    names = [f"Verein {n}" for n in range(5)]
    for name in names:
        api.register_party(name, "civil_society")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = api.client.get("/v1/parties", params=params, headers=api.admin)
        assert page.status_code == 200, page.text
        seen += [p["name"] for p in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    too_many = api.client.get("/v1/parties", params={"limit": 501}, headers=api.admin)
    assert too_many.status_code == 422
    bad_cursor = api.client.get("/v1/parties", params={"cursor": "x"}, headers=api.admin)
    assert bad_cursor.status_code == 422


def test_an_unknown_party_is_not_found(api: Api) -> None:
    response = api.client.get("/v1/parties/not-a-party", headers=api.admin)
    assert response.status_code == 404
    assert response.json()["type"] == "https://tris.example/problems/party-not-found"


def test_only_an_admin_registers_parties_and_issues_tokens(api: Api, trio: Trio) -> None:
    auditor = bearer(api.issue_token("auditor"))
    researcher = bearer(api.issue_token("researcher"))
    body = {"name": "Neu", "sector": "state"}
    for headers in (trio.state.headers(), auditor, researcher):
        assert api.client.post("/v1/parties", json=body, headers=headers).status_code == 403
        issue = api.client.post(f"/v1/parties/{trio.state.party_id}/tokens", headers=headers)
        assert issue.status_code == 403
        reader = api.client.post("/v1/tokens", json={"role": "auditor"}, headers=headers)
        assert reader.status_code == 403
        assert (
            api.client.delete(f"/v1/tokens/{trio.state.token_id}", headers=headers).status_code
            == 403
        )


def test_tokens_are_issued_listed_and_revoked(api: Api, trio: Trio) -> None:
    issued = api.client.post(f"/v1/parties/{trio.state.party_id}/tokens", headers=api.admin)
    assert issued.status_code == 201
    token = issued.json()
    assert token["role"] == "partner" and token["party_id"] == trio.state.party_id
    assert token["token"].startswith("tris_") and token["token_id"]

    reader = api.client.post("/v1/tokens", json={"role": "researcher"}, headers=api.admin)
    assert reader.status_code == 201
    assert reader.json()["role"] == "researcher" and "token" in reader.json()

    as_admin = api.client.post("/v1/tokens", json={"role": "admin"}, headers=api.admin)
    assert as_admin.status_code == 422
    unknown_party = api.client.post("/v1/parties/nobody/tokens", headers=api.admin)
    assert unknown_party.status_code == 404

    listing = api.client.get("/v1/tokens", headers=api.admin)
    assert listing.status_code == 200
    assert token["token_id"] in {t["token_id"] for t in listing.json()["items"]}
    assert token["token"] not in listing.text

    assert api.client.get("/v1/parties", headers=bearer(token["token"])).status_code == 200
    revoked = api.client.delete(f"/v1/tokens/{token['token_id']}", headers=api.admin)
    assert revoked.status_code == 204 and revoked.content == b""
    after = api.client.get("/v1/parties", headers=bearer(token["token"]))
    assert after.status_code == 401
    # Revocation is idempotent: a retry, or the revocation of a token whose issue was
    # answered again under its Idempotency-Key, succeeds and changes nothing.
    again = api.client.delete(f"/v1/tokens/{token['token_id']}", headers=api.admin)
    assert again.status_code == 204
    assert api.client.get("/v1/parties", headers=bearer(token["token"])).status_code == 401
    unknown = api.client.delete("/v1/tokens/0000000000000000", headers=api.admin)
    assert unknown.status_code == 404


def test_a_party_registers_and_revokes_its_own_signing_keys(api: Api, trio: Trio) -> None:
    key = Ed25519PrivateKey.generate()
    path = f"/v1/parties/{trio.state.party_id}/signing-keys"
    body = key_body(key, trio.state.party_id)
    created = api.client.post(path, json=body, headers=trio.state.headers())
    assert created.status_code == 201, created.text
    key_id = created.json()["key_id"]
    duplicate = api.client.post(path, json=body, headers=trio.state.headers())
    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == "https://tris.example/problems/duplicate-signing-key"
    short = api.client.post(
        path,
        json={"public_key": base64.b64encode(b"x" * 31).decode(), "proof": body["proof"]},
        headers=trio.state.headers(),
    )
    assert short.status_code == 422
    assert short.json()["type"] == "https://tris.example/problems/invalid-signing-key"

    party = api.client.get(f"/v1/parties/{trio.state.party_id}", headers=api.admin).json()
    assert {
        "key_id": key_id,
        "public_key": body["public_key"],
        "revoked": False,
        "proven": True,
    } in (party["signing_keys"])

    revoked = api.client.delete(f"{path}/{key_id}", headers=trio.state.headers())
    assert revoked.status_code == 200
    assert revoked.json() == {"key_id": key_id, "party_id": trio.state.party_id, "revoked": True}
    again = api.client.delete(f"{path}/{key_id}", headers=trio.state.headers())
    assert again.status_code == 409
    unknown = api.client.delete(f"{path}/0000000000000000", headers=trio.state.headers())
    assert unknown.status_code == 404


def test_nobody_else_manages_a_partys_signing_keys(api: Api, trio: Trio) -> None:
    path = f"/v1/parties/{trio.state.party_id}/signing-keys"
    body = key_body(Ed25519PrivateKey.generate(), trio.state.party_id)
    other = api.client.post(path, json=body, headers=trio.business.headers())
    assert other.status_code == 404
    assert api.client.post(path, json=body, headers=api.admin).status_code == 403
    auditor = bearer(api.issue_token("auditor"))
    refused = api.client.post(path, json=body, headers=auditor)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "an auditor token cannot change anything"
    revoke = api.client.delete(f"{path}/{trio.state.key_id}", headers=trio.business.headers())
    assert revoke.status_code == 404


def test_a_key_is_registered_only_with_a_proof_of_possession(api: Api, trio: Trio) -> None:
    key = Ed25519PrivateKey.generate()
    path = f"/v1/parties/{trio.state.party_id}/signing-keys"
    body = key_body(key, trio.state.party_id)
    before = api.client.get(f"/v1/parties/{trio.state.party_id}", headers=api.admin).json()
    wrong_party = key_body(key, trio.business.party_id)["proof"]
    other_key = key_body(Ed25519PrivateKey.generate(), trio.state.party_id)["proof"]

    for sent in (
        {"public_key": body["public_key"]},
        {**body, "proof": ""},
        {**body, "proof": "not base64!"},
        {**body, "proof": wrong_party},
        {**body, "proof": other_key},
    ):
        answer = api.client.post(path, json=sent, headers=trio.state.headers())
        assert answer.status_code == 422, (sent, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    after = api.client.get(f"/v1/parties/{trio.state.party_id}", headers=api.admin).json()
    assert after["version"] == before["version"]


def test_a_party_cannot_sign_with_another_partys_key(api: Api, trio: Trio) -> None:
    """The attack: P2 registers P4's public key and submits a copy of P4's signature."""
    proposed = api.propose(trio.state, content(trio.business, trio.civil, trio.state))
    agreement_id = proposed.json()["id"]
    stolen = public_key_b64(trio.civil.private_key)
    path = f"/v1/parties/{trio.business.party_id}/signing-keys"
    # Without the private key there is no proof: 422.
    _, own_proof = key_registration(Ed25519PrivateKey.generate(), trio.business.party_id)
    taken = api.client.post(
        path, json={"public_key": stolen, "proof": own_proof}, headers=trio.business.headers()
    )
    assert taken.status_code == 422
    # Even holding it (a shared key), another party's key is not registered again: 409.
    shared = api.client.post(
        path,
        json=key_body(trio.civil.private_key, trio.business.party_id),
        headers=trio.business.headers(),
    )
    assert shared.status_code == 409
    assert shared.json()["type"] == "https://tris.example/problems/signing-key-taken"
    # So the copy of the civil party's signature names a key the business does not have.
    payload = api.payload(trio.civil, agreement_id, 1)
    copied = api.client.post(
        f"/v1/agreements/{agreement_id}/signatures",
        json={"revision": 1, "key_id": trio.civil.key_id, "signature": trio.civil.sign(payload)},
        headers=trio.business.headers(**{"If-Match": '"1"'}),
    )
    assert copied.status_code in (403, 404, 409, 422)
    view = api.client.get(f"/v1/agreements/{agreement_id}", headers=trio.state.headers()).json()
    assert not any(p["signed"] for p in view["parties"] if p["party_id"] == trio.business.party_id)


def test_verification_and_evidence_show_whether_each_key_was_proven(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    api.checkpoint()
    verification = api.client.get(
        f"/v1/agreements/{agreement_id}/verification", headers=trio.state.headers()
    ).json()
    keys = {(k["party_id"], k["key_id"]): k for k in verification["signing_keys"]}
    assert keys[(trio.state.party_id, trio.state.key_id)]["proven"] is True
    assert keys[(trio.business.party_id, trio.business.key_id)]["revoked"] is False
    bundle = api.client.get(
        f"/v1/agreements/{agreement_id}/evidence", headers=trio.state.headers()
    ).json()
    assert all(k["proven"] is True for p in bundle["parties"] for k in p["keys"])
