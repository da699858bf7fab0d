"""Who may read and do what: every token against every other party's agreements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Api, Partner, Trio, bearer, content

SECRET_TITLE = "Vertrauliches Vorhaben Quartiersküche"


@dataclass
class Scene:
    """Two agreements: `proposed` (state + business) and `in_force` (business + civil)."""

    proposed: str
    in_force: str
    fulfilment: str


@pytest.fixture
def scene(api: Api, trio: Trio) -> Scene:
    proposed = api.propose(
        trio.state, content(trio.business, trio.state, title=SECRET_TITLE)
    ).json()["id"]
    in_force = api.propose(
        trio.business, content(trio.business, trio.civil, title=SECRET_TITLE, quantity="5")
    ).json()["id"]
    api.conclude(in_force, 1, trio.business, trio.civil)
    delivery = {"quantity": "2", "delivered_on": "2026-05-01", "note": "zwei"}
    fulfilment = api.post(trio.business, in_force, "commitments/C1/fulfilments", delivery)
    assert fulfilment.status_code == 201
    return Scene(proposed, in_force, fulfilment.json()["id"])


def reads(agreement_id: str) -> list[str]:
    base = f"/v1/agreements/{agreement_id}"
    return [
        base,
        f"{base}?version=1",
        f"{base}/history",
        f"{base}/revisions",
        f"{base}/revisions/1",
        f"{base}/revisions/1/diff?against=1",
        f"{base}/revisions/1/signing-payload",
    ]


def writes(scene: Scene, actor: Partner | None, trio: Trio) -> list[tuple[str, dict[str, Any]]]:
    """Every command on the two agreements, with bodies valid for the acting party."""
    party = actor or trio.outsider
    own_content = content(party, trio.state if party is not trio.state else trio.business)
    proposed = f"/v1/agreements/{scene.proposed}"
    in_force = f"/v1/agreements/{scene.in_force}"
    return [
        (f"{proposed}/revisions", {**own_content, "rationale": "übernehmen"}),
        (f"{proposed}/signatures", {"revision": 1, "key_id": party.key_id, "signature": "AA=="}),
        (f"{proposed}/declination", {"reason": "nein"}),
        (f"{proposed}/withdrawal", {"reason": "weg"}),
        (f"{in_force}/termination", {"reason": "ende"}),
        (f"{in_force}/amendments", {**own_content, "rationale": "ändern"}),
        (f"{in_force}/amendments/2/rejection", {"reason": "nein"}),
        (
            f"{in_force}/commitments/C1/fulfilments",
            {"quantity": "1", "delivered_on": "2026-05-01", "note": ""},
        ),
        (f"{in_force}/fulfilments/{scene.fulfilment}/confirmation", {}),
        (f"{in_force}/fulfilments/{scene.fulfilment}/dispute", {"reason": "falsch"}),
    ]


def assert_reveals_nothing(text: str, trio: Trio) -> None:
    assert SECRET_TITLE not in text
    assert "Kochen mit Azubis" not in text
    assert "Marktplatz" not in text
    for partner in (trio.state, trio.business, trio.civil):
        assert partner.name not in text


def outsiders(trio: Trio, agreement: str, scene: Scene) -> list[Partner]:
    if agreement == scene.proposed:
        return [trio.civil, trio.outsider]
    return [trio.state, trio.outsider]


def test_a_party_reads_nothing_of_agreements_it_is_not_in(
    api: Api, trio: Trio, scene: Scene
) -> None:
    for agreement in (scene.proposed, scene.in_force):
        for stranger in outsiders(trio, agreement, scene):
            for path in reads(agreement):
                response = api.client.get(path, headers=stranger.headers())
                assert response.status_code == 404, (stranger.name, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert_reveals_nothing(response.text, trio)


def test_a_party_does_nothing_to_agreements_it_is_not_in(
    api: Api, trio: Trio, scene: Scene
) -> None:
    versions = {
        scene.proposed: api.current_etag(scene.proposed),
        scene.in_force: api.current_etag(scene.in_force),
    }
    for stranger in (trio.civil, trio.state, trio.outsider):
        for path, body in writes(scene, stranger, trio):
            agreement = scene.proposed if scene.proposed in path else scene.in_force
            if stranger not in outsiders(trio, agreement, scene):
                continue
            response = api.client.post(
                path, json=body, headers=stranger.headers(**{"If-Match": versions[agreement]})
            )
            assert response.status_code in (403, 404), (stranger.name, path, response.text)
            assert_reveals_nothing(response.text, trio)
    assert api.current_etag(scene.proposed) == versions[scene.proposed]
    assert api.current_etag(scene.in_force) == versions[scene.in_force]


def test_parties_of_an_agreement_read_it(api: Api, trio: Trio, scene: Scene) -> None:
    for member in (trio.state, trio.business):
        for path in reads(scene.proposed):
            assert api.client.get(path, headers=member.headers()).status_code == 200, path


def test_auditors_read_everything_and_change_nothing(api: Api, trio: Trio, scene: Scene) -> None:
    auditor = bearer(api.issue_token("auditor"))
    for agreement in (scene.proposed, scene.in_force):
        for path in reads(agreement):
            assert api.client.get(path, headers=auditor).status_code == 200, path
    for path, body in writes(scene, None, trio):
        response = api.client.post(path, json=body, headers={**auditor, "If-Match": '"1"'})
        assert response.status_code == 403, (path, response.text)
    proposal = api.client.post(
        "/v1/agreements", json=content(trio.state, trio.civil), headers=auditor
    )
    assert proposal.status_code == 403


def test_admins_read_everything_and_act_on_no_agreement(api: Api, trio: Trio, scene: Scene) -> None:
    for path in reads(scene.in_force):
        assert api.client.get(path, headers=api.admin).status_code == 200, path
    for path, body in writes(scene, None, trio):
        response = api.client.post(path, json=body, headers={**api.admin, "If-Match": '"1"'})
        assert response.status_code == 403, (path, response.text)
    proposal = api.client.post(
        "/v1/agreements", json=content(trio.state, trio.civil), headers=api.admin
    )
    assert proposal.status_code == 403


def test_researchers_read_parties_but_no_agreement(api: Api, trio: Trio, scene: Scene) -> None:
    researcher = bearer(api.issue_token("researcher"))
    assert api.client.get("/v1/parties", headers=researcher).status_code == 200
    for agreement in (scene.proposed, scene.in_force):
        for path in reads(agreement):
            response = api.client.get(path, headers=researcher)
            assert response.status_code == 403, path
            assert_reveals_nothing(response.text, trio)
    for path, body in writes(scene, None, trio):
        response = api.client.post(path, json=body, headers={**researcher, "If-Match": '"1"'})
        assert response.status_code == 403, (path, response.text)
