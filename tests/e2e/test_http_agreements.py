"""Agreements over HTTP: the whole lifecycle with real Ed25519 keys, revisions, amendments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import rfc8785

from tests.support.http import Api, Trio, content


def test_an_agreement_goes_from_proposal_to_completed(api: Api, trio: Trio) -> None:
    state, business, civil = trio.state, trio.business, trio.civil
    proposed = api.propose(state, content(business, civil, state))
    assert proposed.status_code == 201, proposed.text
    body = proposed.json()
    agreement_id = body["id"]
    assert proposed.headers["Location"] == f"/v1/agreements/{agreement_id}"
    assert proposed.headers["ETag"] == f'"{body["version"]}"'
    assert body["status"] == "proposed"
    assert body["sector_mix"] == "trisectoral"
    assert body["revision"] == 1 and body["in_force_revision"] is None
    assert {p["party_id"] for p in body["parties"]} == {
        state.party_id,
        business.party_id,
        civil.party_id,
    }
    assert all(p["signed"] is False for p in body["parties"])
    commitment = body["content"]["commitments"][0]
    assert commitment["id"] == "C1"
    assert commitment["quantity"] == "10"
    assert commitment["status"] == "open" and commitment["confirmed_quantity"] == "0"
    assert set(body["content"]["terms"]) >= {"text", "starts_on", "ends_on"}

    payload_response = api.client.get(
        f"/v1/agreements/{agreement_id}/revisions/1/signing-payload", headers=civil.headers()
    )
    assert payload_response.headers["content-type"] == "application/json"
    payload = payload_response.content
    decoded = json.loads(payload)
    assert decoded["agreement_id"] == agreement_id and decoded["revision"] == 1
    assert bytes(rfc8785.dumps(decoded)) == payload

    in_force = api.conclude(agreement_id, 1, state, business, civil)
    assert in_force["status"] == "in_force"
    assert in_force["in_force_revision"] == 1
    assert all(p["signed"] for p in in_force["parties"])

    recorded = api.post(
        business,
        agreement_id,
        "commitments/C1/fulfilments",
        {
            "quantity": "10",
            "delivered_on": "2026-05-01",
            "note": "Zehn Stunden gekocht",
            "evidence": {"url": "https://example.org/fotos", "sha256": "ab" * 32},
        },
    )
    assert recorded.status_code == 201, recorded.text
    fulfilment = recorded.json()
    assert fulfilment["id"] == "F1" and fulfilment["status"] == "recorded"
    assert fulfilment["evidence"]["sha256"] == "ab" * 32
    assert recorded.headers["ETag"] == f'"{fulfilment["version"]}"'

    done = api.post(civil, agreement_id, f"fulfilments/{fulfilment['id']}/confirmation")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["content"]["commitments"][0]["status"] == "fulfilled"
    assert done.json()["content"]["commitments"][0]["confirmed_quantity"] == "10"

    history = api.history(agreement_id)
    assert [item["type"] for item in history] == [
        "Proposed",
        "Signed",
        "Signed",
        "Signed",
        "Concluded",
        "FulfilmentRecorded",
        "FulfilmentConfirmed",
        "Completed",
    ]
    first = history[0]
    assert set(first) >= {"position", "version", "type", "time", "actor", "summary"}
    assert first["actor"] == {"party_id": state.party_id, "token_id": state.token_id}
    assert "Bezirksamt Mitte" in first["summary"]
    positions = [item["position"] for item in history]
    assert positions == sorted(positions) and None not in positions


def test_an_agreement_read_carries_its_version_as_etag(api: Api, trio: Trio) -> None:
    created = api.propose(trio.state, content(trio.business, trio.state)).json()
    response = api.read(trio.business.headers(), created["id"])
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"' == f'"{response.json()["version"]}"'
    history = api.client.get(
        f"/v1/agreements/{created['id']}/history", headers=trio.business.headers()
    )
    assert history.headers["ETag"] == '"1"'


def test_every_read_under_an_agreement_carries_the_agreement_view_etag(
    api: Api, trio: Trio
) -> None:
    state, business = trio.state, trio.business
    agreement_id = api.propose(state, content(business, state)).json()["id"]
    revised = {**content(business, state, quantity="12"), "rationale": "Mehr Stunden"}
    assert api.post(business, agreement_id, "revisions", revised).status_code == 201
    api.checkpoint()
    base = f"/v1/agreements/{agreement_id}"
    reads = [
        f"{base}/revisions",
        f"{base}/revisions/1",
        f"{base}/revisions/2/diff?against=1",
        f"{base}/revisions/2/signing-payload",
        f"{base}/verification",
        f"{base}/evidence",
    ]

    def read_tags() -> dict[str, str]:
        tags = {}
        for path in reads:
            response = api.client.get(path, headers=business.headers())
            assert response.status_code == 200, (path, response.text)
            tags[path] = response.headers.get("ETag", "")
        return tags

    before = api.read(business.headers(), agreement_id).headers["ETag"]
    assert before == '"2"'
    assert read_tags() == dict.fromkeys(reads, before)

    assert api.sign(state, agreement_id, 2).status_code == 201
    api.checkpoint()
    after = api.read(business.headers(), agreement_id).headers["ETag"]
    assert after == '"3"'
    assert read_tags() == dict.fromkeys(reads, after)

    spec = api.client.get("/openapi.json").json()
    for template in (
        "/revisions",
        "/revisions/{number}",
        "/revisions/{number}/diff",
        "/revisions/{number}/signing-payload",
        "/verification",
        "/evidence",
    ):
        answer = spec["paths"][f"/v1/agreements/{{agreement_id}}{template}"]["get"]
        assert "ETag" in answer["responses"]["200"].get("headers", {}), template


def test_past_states_are_read_by_version_and_by_moment(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    before_signing = datetime.now(UTC)
    api.conclude(agreement_id, 1, trio.state, trio.business)
    path = f"/v1/agreements/{agreement_id}"
    now = api.client.get(path, headers=trio.state.headers()).json()
    assert now["status"] == "in_force"
    first = api.client.get(path, params={"version": 1}, headers=trio.state.headers())
    assert first.status_code == 200 and first.json()["status"] == "proposed"
    assert first.headers["ETag"] == '"1"'
    earlier = api.client.get(
        path, params={"as_of": before_signing.isoformat()}, headers=trio.state.headers()
    )
    assert earlier.status_code == 200, earlier.text
    assert earlier.json()["status"] == "proposed"
    too_early = (before_signing - timedelta(days=1)).isoformat()
    gone = api.client.get(path, params={"as_of": too_early}, headers=trio.state.headers())
    assert gone.status_code == 404
    naive = api.client.get(
        path, params={"as_of": "2026-01-01T00:00:00"}, headers=trio.state.headers()
    )
    assert naive.status_code == 422


def test_a_proposal_is_revised_compared_and_the_stale_revision_cannot_be_signed(
    api: Api, trio: Trio
) -> None:
    state, business = trio.state, trio.business
    agreement_id = api.propose(state, content(business, state)).json()["id"]
    revised_body = {
        **content(business, state, quantity="12", title="Kiezküche Moabit, größer"),
        "rationale": "Mehr Stunden",
    }
    revised_body["commitments"][0]["id"] = "C1"
    revised = api.post(business, agreement_id, "revisions", revised_body)
    assert revised.status_code == 201, revised.text
    assert revised.headers["Location"] == f"/v1/agreements/{agreement_id}/revisions/2"
    assert revised.json()["revision"] == 2

    listing = api.client.get(f"/v1/agreements/{agreement_id}/revisions", headers=state.headers())
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert [r["number"] for r in items] == [1, 2]
    assert items[0]["state"] == "superseded" and items[1]["rationale"] == "Mehr Stunden"
    assert listing.json()["next_cursor"] is None

    one = api.client.get(f"/v1/agreements/{agreement_id}/revisions/2", headers=state.headers())
    assert one.status_code == 200 and len(one.json()["content_hash"]) == 64

    diff = api.client.get(
        f"/v1/agreements/{agreement_id}/revisions/2/diff",
        params={"against": 1},
        headers=state.headers(),
    )
    assert diff.status_code == 200
    changed = {c["path"]: c for c in diff.json()["changes"]}
    assert changed["commitments[C1].quantity"]["before"] == "10"
    assert changed["commitments[C1].quantity"]["after"] == "12"
    assert "title" in changed

    stale = api.sign(state, agreement_id, 1)
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["type"] == "https://tris.example/problems/stale-revision"

    missing = api.client.get(f"/v1/agreements/{agreement_id}/revisions/9", headers=state.headers())
    assert missing.status_code == 404
    assert missing.json()["type"] == "https://tris.example/problems/revision-not-found"


def test_a_party_declines_and_the_proposer_withdraws(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    declined = api.post(trio.business, agreement_id, "declination", {"reason": "Zu viel"})
    assert declined.status_code == 200, declined.text
    assert any(p["declined"] for p in declined.json()["parties"])
    not_proposer = api.post(trio.business, agreement_id, "withdrawal", {"reason": "Nein"})
    assert not_proposer.status_code == 403
    assert not_proposer.json()["type"] == "https://tris.example/problems/not-proposer"
    withdrawn = api.post(trio.state, agreement_id, "withdrawal", {"reason": "Neu planen"})
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    empty_reason = api.post(trio.state, agreement_id, "withdrawal", {"reason": " "})
    assert empty_reason.status_code in (409, 422)


def test_an_agreement_in_force_is_amended_rejected_and_terminated(api: Api, trio: Trio) -> None:
    state, business, civil = trio.state, trio.business, trio.civil
    agreement_id = api.propose(state, content(business, civil, state)).json()["id"]
    api.conclude(agreement_id, 1, state, business, civil)

    amendment = {**content(business, civil, state, quantity="20"), "rationale": "Verdoppeln"}
    amendment["commitments"][0]["id"] = "C1"
    proposed = api.post(civil, agreement_id, "amendments", amendment)
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["pending_amendment"] == 2
    assert proposed.headers["Location"] == f"/v1/agreements/{agreement_id}/revisions/2"
    second = api.post(state, agreement_id, "amendments", amendment)
    assert second.status_code == 409
    assert second.json()["type"] == "https://tris.example/problems/amendment-pending"

    adopted = api.conclude(agreement_id, 2, state, business, civil)
    assert adopted["in_force_revision"] == 2 and adopted["pending_amendment"] is None
    assert adopted["content"]["commitments"][0]["quantity"] == "20"

    third = {**content(business, civil, state, quantity="30"), "rationale": "Noch mehr"}
    assert api.post(business, agreement_id, "amendments", third).status_code == 201
    rejected = api.post(state, agreement_id, "amendments/3/rejection", {"reason": "Zu viel"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["pending_amendment"] is None
    assert rejected.json()["in_force_revision"] == 2
    again = api.post(state, agreement_id, "amendments/3/rejection", {"reason": "Zu viel"})
    assert again.status_code == 409

    terminated = api.post(civil, agreement_id, "termination", {"reason": "Projekt beendet"})
    assert terminated.status_code == 200
    assert terminated.json()["status"] == "terminated"
    assert terminated.json()["termination_reason"] == "Projekt beendet"


def test_an_amendment_cannot_drop_a_party_without_its_signature(api: Api, trio: Trio) -> None:
    """The attack: in force between S, B and C, B amends the parties to [B, C]; B and C
    sign. The amendment waits for S, who keeps every right until it is in force."""
    state, business, civil = trio.state, trio.business, trio.civil
    agreement_id = api.propose(state, content(business, civil, state)).json()["id"]
    api.conclude(agreement_id, 1, state, business, civil)
    without_state = {**content(business, civil), "rationale": "Ohne das Bezirksamt"}
    without_state["commitments"][0]["id"] = "C1"
    assert api.post(business, agreement_id, "amendments", without_state).status_code == 201

    after_two = api.conclude(agreement_id, 2, business, civil)
    assert after_two["in_force_revision"] == 1 and after_two["pending_amendment"] == 2
    assert [p["party_id"] for p in after_two["parties"] if not p["signed"]] == [state.party_id]
    refused = api.post(state, agreement_id, "amendments/2/rejection", {"reason": "Nicht mit uns"})
    assert refused.status_code == 200, refused.text
    assert refused.json()["in_force_revision"] == 1
    terminated = api.post(state, agreement_id, "termination", {"reason": "Vertrauensbruch"})
    assert terminated.status_code == 200, terminated.text

    # With everyone's signature the same amendment takes effect, and S is no party any more.
    second_id = api.propose(state, content(business, civil, state)).json()["id"]
    api.conclude(second_id, 1, state, business, civil)
    assert api.post(business, second_id, "amendments", without_state).status_code == 201
    adopted = api.conclude(second_id, 2, business, civil, state)
    assert adopted["in_force_revision"] == 2
    late = api.post(state, second_id, "termination", {"reason": "zu spät"})
    assert late.status_code in (403, 404)


def test_a_delivery_is_disputed_and_cannot_be_confirmed_by_its_debtor(api: Api, trio: Trio) -> None:
    business, civil, state = trio.business, trio.civil, trio.state
    agreement_id = api.propose(state, content(business, civil, state)).json()["id"]
    api.conclude(agreement_id, 1, state, business, civil)
    delivery = {"quantity": "4", "delivered_on": "2026-05-02", "note": "vier Stunden"}
    not_debtor = api.post(civil, agreement_id, "commitments/C1/fulfilments", delivery)
    assert not_debtor.status_code == 403
    recorded = api.post(business, agreement_id, "commitments/C1/fulfilments", delivery).json()
    own = api.post(business, agreement_id, f"fulfilments/{recorded['id']}/confirmation")
    assert own.status_code == 403
    assert own.json()["type"] == "https://tris.example/problems/self-confirmation"
    disputed = api.post(
        civil, agreement_id, f"fulfilments/{recorded['id']}/dispute", {"reason": "nur drei"}
    )
    assert disputed.status_code == 200
    assert disputed.json()["fulfilments"][0]["status"] == "disputed"
    unknown = api.post(civil, agreement_id, "fulfilments/F99/confirmation")
    assert unknown.status_code == 404
    no_commitment = api.post(business, agreement_id, "commitments/C9/fulfilments", delivery)
    assert no_commitment.status_code == 404


def test_a_quantity_sent_as_a_json_number_is_refused(api: Api, trio: Trio) -> None:
    body = content(trio.business, trio.state)
    body["commitments"][0]["quantity"] = 10
    response = api.propose(trio.state, body)
    assert response.status_code == 422
    assert "body.commitments.0.quantity" in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"


def test_domain_rules_answer_named_problems(api: Api, trio: Trio) -> None:
    alone = content(trio.business, trio.state)
    alone["parties"] = [trio.state.party_id]
    response = api.propose(trio.state, alone)
    assert response.status_code == 422
    assert response.json()["type"] == "https://tris.example/problems/too-few-parties"
    not_mine = api.propose(trio.state, content(trio.business, trio.civil))
    assert not_mine.status_code == 422
    assert not_mine.json()["type"] == "https://tris.example/problems/proposer-not-a-party"
    bad_quantity = api.propose(trio.state, content(trio.business, trio.state, quantity="-1"))
    assert bad_quantity.status_code == 422
    assert bad_quantity.json()["type"] == "https://tris.example/problems/invalid-quantity"


def test_a_forged_signature_is_refused(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    forged = api.client.post(
        f"/v1/agreements/{agreement_id}/signatures",
        json={
            "revision": 1,
            "key_id": trio.state.key_id,
            "signature": trio.state.sign(b"something else"),
        },
        headers=trio.state.headers(**{"If-Match": api.current_etag(agreement_id)}),
    )
    assert forged.status_code == 409
    assert forged.json()["type"] == "https://tris.example/problems/invalid-signature"
    twice = api.sign(trio.state, agreement_id, 1)
    assert twice.status_code == 201
    again = api.sign(trio.state, agreement_id, 1)
    assert again.status_code == 409
    assert again.json()["type"] == "https://tris.example/problems/already-signed"
