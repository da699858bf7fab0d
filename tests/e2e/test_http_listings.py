"""The read-model endpoints over HTTP: agreement list, a party's commitments, statistics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, build_services, content
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app
from tris.interfaces.http.schemas.listings import AgreementList, PartyCommitmentList, StatsView


def ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    return [item["id"] for item in body["items"]]


def test_a_proposal_is_listed_on_the_next_request_with_its_position(api: Api, trio: Trio) -> None:
    created = api.propose(trio.business, content(trio.business, trio.civil, trio.state))
    assert created.status_code == 201
    position = int(created.headers["X-TRIS-Position"])
    listed = api.client.get(
        "/v1/agreements", params={"min_position": position}, headers=trio.business.headers()
    )
    assert listed.status_code == 200
    assert ids(listed) == [created.json()["id"]]
    assert int(listed.headers["X-TRIS-Position"]) >= position
    item = listed.json()["items"][0]
    assert item["status"] == "proposed"
    assert item["sector_mix"] == "trisectoral"
    assert listed.json()["next_cursor"] is None


def test_list_filters_and_pages_follow_the_contract(api: Api, trio: Trio) -> None:
    tri = api.propose(trio.state, content(trio.business, trio.civil, trio.state)).json()["id"]
    bi = api.propose(
        trio.business, content(trio.business, trio.civil, title="Marktplatz Gute Geschäfte")
    ).json()["id"]
    api.conclude(bi, 1, trio.business, trio.civil)

    def listed(**params: object) -> list[str]:
        response = api.client.get("/v1/agreements", params=params, headers=api.admin)
        assert response.status_code == 200, response.text
        return ids(response)

    assert set(listed()) == {tri, bi}
    assert listed(status="in_force") == [bi]
    assert listed(sector_mix="trisectoral") == [tri]
    assert listed(sector="state") == [tri]
    assert set(listed(party=trio.civil.party_id)) == {tri, bi}
    assert listed(region="Berlin-Mitte") == [tri]
    assert listed(q="marktplatz") == [bi]
    first = api.client.get("/v1/agreements", params={"limit": 1}, headers=api.admin).json()
    second = api.client.get(
        "/v1/agreements", params={"limit": 1, "cursor": first["next_cursor"]}, headers=api.admin
    ).json()
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {tri, bi}
    assert second["next_cursor"] is None
    for bad in ({"limit": 501}, {"status": "signed"}, {"cursor": "###"}):
        response = api.client.get("/v1/agreements", params=bad, headers=api.admin)
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")


def test_partners_list_only_their_own_agreements(api: Api, trio: Trio) -> None:
    mine = api.propose(trio.business, content(trio.business, trio.civil)).json()["id"]
    api.propose(trio.state, content(trio.state, trio.outsider))
    response = api.client.get("/v1/agreements", headers=trio.business.headers())
    assert ids(response) == [mine]
    assert trio.outsider.party_id not in response.text


def test_party_commitments_for_the_party_and_auditors_only(api: Api, trio: Trio) -> None:
    agreement = api.propose(
        trio.business, content(trio.business, trio.civil, due_on="2020-01-01")
    ).json()["id"]
    api.conclude(agreement, 1, trio.business, trio.civil)
    path = f"/v1/parties/{trio.business.party_id}/commitments"
    own = api.client.get(path, headers=trio.business.headers())
    assert own.status_code == 200
    (item,) = own.json()["items"]
    assert item["agreement_id"] == agreement
    assert item["direction"] == "owed"
    assert item["status"] == "overdue"
    overdue = api.client.get(path, params={"status": "overdue"}, headers=trio.business.headers())
    assert len(overdue.json()["items"]) == 1
    fulfilled = api.client.get(
        path, params={"status": "fulfilled"}, headers=trio.business.headers()
    )
    assert fulfilled.json()["items"] == []
    for bad in ({"status": "late"}, {"limit": 501}, {"cursor": "###"}):
        refused = api.client.get(path, params=bad, headers=trio.business.headers())
        assert refused.status_code == 422, bad
    auditor = api.issue_token("auditor")
    assert api.client.get(path, headers={"Authorization": f"Bearer {auditor}"}).status_code == 200
    other = api.client.get(path, headers=trio.outsider.headers())
    assert other.status_code in (403, 404)
    assert agreement not in other.text
    received = api.client.get(
        f"/v1/parties/{trio.civil.party_id}/commitments", headers=trio.civil.headers()
    ).json()["items"]
    assert [i["direction"] for i in received] == ["received"]


def test_stats_answer_any_token(api: Api, trio: Trio) -> None:
    agreement = api.propose(
        trio.state, content(trio.business, trio.civil, trio.state, quantity="7.5")
    ).json()["id"]
    api.conclude(agreement, 1, trio.state, trio.business, trio.civil)
    researcher = api.issue_token("researcher")
    response = api.client.get("/v1/stats", headers={"Authorization": f"Bearer {researcher}"})
    assert response.status_code == 200
    stats = response.json()
    assert stats["agreements"]["by_sector_mix"]["trisectoral"] == 1
    assert stats["agreements"]["by_status"]["in_force"] == 1
    assert stats["commitments"]["by_kind_and_unit"] == [
        {"kind": "time", "unit": "hours", "committed": "7.5", "fulfilled": "0"}
    ]
    assert api.client.get("/v1/stats").status_code == 401


def test_every_read_model_answer_is_exactly_its_documented_model(api: Api, trio: Trio) -> None:
    # The listing routes answer the queries' JSON without FastAPI validating it again:
    # it must be the model's own dump, no field missing, none extra, nothing retyped.
    agreement = api.propose(
        trio.state, content(trio.business, trio.civil, trio.state, due_on="2020-01-01")
    ).json()["id"]
    api.conclude(agreement, 1, trio.state, trio.business, trio.civil)
    api.propose(trio.business, content(trio.business, trio.civil, title="Kältebus Moabit"))
    answers = [
        (AgreementList, "/v1/agreements", {}),
        (AgreementList, "/v1/agreements", {"limit": 1}),
        (AgreementList, "/v1/agreements", {"q": "kältebus", "party": trio.civil.party_id}),
        (PartyCommitmentList, f"/v1/parties/{trio.state.party_id}/commitments", {}),
        (PartyCommitmentList, f"/v1/parties/{trio.business.party_id}/commitments", {}),
        (StatsView, "/v1/stats", {}),
    ]
    for model, path, params in answers:
        response = api.client.get(path, params=params, headers=api.admin)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert "X-TRIS-Position" in response.headers
        body = response.json()
        assert body == model.model_validate(body, strict=True).model_dump(mode="json"), path
        assert body == model.model_validate(body).model_dump(mode="json"), path


def test_min_position_beyond_the_log_is_refused(api: Api, trio: Trio) -> None:
    response = api.client.get("/v1/agreements", params={"min_position": 10**9}, headers=api.admin)
    assert response.status_code == 422
    assert "beyond the end" in response.json()["detail"]


@pytest.fixture
def lagging(database_url: str) -> Iterator[tuple[Services, TestClient]]:
    """Another API process on the same database, in worker mode, with no worker running:
    its read models stay where they are until one passes by (`projections.catch_up`)."""
    services = build_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        with TestClient(create_app(services)) as client:
            yield services, client
    finally:
        services.close()


def test_min_position_the_read_models_have_not_reached_answers_503(
    api: Api, trio: Trio, lagging: tuple[Services, TestClient]
) -> None:
    services, client = lagging
    created = client.post(
        "/v1/agreements", json=content(trio.business, trio.civil), headers=trio.business.headers()
    )
    assert created.status_code == 201  # the write stands though the read models lag
    position = created.headers["X-TRIS-Position"]
    behind = client.get("/v1/agreements", params={"min_position": position}, headers=api.admin)
    assert behind.status_code == 503
    assert int(behind.headers["Retry-After"]) >= 1
    assert behind.headers["content-type"].startswith("application/problem+json")
    services.projections.catch_up()  # a worker passes by
    caught_up = client.get("/v1/agreements", params={"min_position": position}, headers=api.admin)
    assert caught_up.status_code == 200
    assert created.json()["id"] in ids(caught_up)


def test_a_listing_says_the_position_its_own_rows_were_read_at(
    api: Api, trio: Trio, lagging: tuple[Services, TestClient]
) -> None:
    first = api.propose(trio.business, content(trio.business, trio.civil, trio.state))
    before = int(first.headers["X-TRIS-Position"])
    services, client = lagging
    second = client.post(
        "/v1/agreements", json=content(trio.business, trio.civil), headers=trio.business.headers()
    )
    assert second.status_code == 201
    after = int(second.headers["X-TRIS-Position"])
    assert after > before
    # All, a party's, a text found nowhere, a region unknown (the last two: empty).
    sources = [{}, {"party": trio.civil.party_id}, {"q": "nirgendwo"}, {"region": "Atlantis"}]

    def listed() -> list[tuple[int, list[str]]]:
        answers = []
        for params in sources:
            answer = client.get("/v1/agreements", params=params, headers=api.admin)
            assert answer.status_code == 200, answer.text
            answers.append((int(answer.headers["X-TRIS-Position"]), ids(answer)))
        return answers

    lagging_answers = listed()
    assert lagging_answers[0] == (before, [first.json()["id"]])
    assert lagging_answers[1] == (before, [first.json()["id"]])
    assert lagging_answers[2:] == [(before, []), (before, [])]  # empty pages too

    services.projections.catch_up()  # a worker passes by
    both = [second.json()["id"], first.json()["id"]]
    assert listed() == [(after, both), (after, both), (after, []), (after, [])]
