"""Who may read and do what: every token against every other party's agreements.

Once on a small cast made for the purpose, once on the demo scenario (six parties, five
agreements in every state).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Partner, Trio, bearer, build_services, content
from tris.demo import DemoData, DemoParty, load_demo
from tris.interfaces.http.app import create_app

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
        assert response.json()["detail"].startswith("an auditor token cannot act"), path
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
        assert response.json()["detail"].startswith("an admin token cannot act"), path
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


# -- the demo scenario: every demo party against every other party's agreements ------------------


@dataclass
class DemoWorld:
    """The demo data served in process, and what the admin sees of each agreement."""

    client: TestClient
    data: DemoData
    views: dict[str, dict[str, Any]]
    members: dict[str, set[str]]

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.data.admin_token)

    def etag(self, agreement_id: str) -> str:
        response = self.client.get(f"/v1/agreements/{agreement_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return response.headers["ETag"]


@pytest.fixture
def demo(database_url: str) -> Iterator[DemoWorld]:
    services = build_services(database_url)
    try:
        data = load_demo(services)
        with TestClient(create_app(services)) as client:
            admin = bearer(data.admin_token)
            views: dict[str, dict[str, Any]] = {}
            members: dict[str, set[str]] = {}
            for agreement in data.agreements:
                base = f"/v1/agreements/{agreement.agreement_id}"
                views[agreement.agreement_id] = client.get(base, headers=admin).json()
                revisions = client.get(f"{base}/revisions", headers=admin).json()["items"]
                members[agreement.agreement_id] = {
                    party for revision in revisions for party in revision["content"]["parties"]
                }
            yield DemoWorld(client, data, views, members)
    finally:
        services.close()


def demo_reads(agreement_id: str) -> list[str]:
    """Every read of one agreement, the integrity reads and the past included."""
    base = f"/v1/agreements/{agreement_id}"
    return [
        *reads(agreement_id),
        f"{base}?as_of=2999-01-01T00:00:00Z",
        f"{base}/verification",
        f"{base}/evidence",
    ]


def demo_writes(
    world: DemoWorld, agreement_id: str, actor: DemoParty
) -> list[tuple[str, dict[str, Any]]]:
    """Every command on one agreement, with bodies that are valid for the acting party."""
    other = next(p for p in world.data.parties if p.party_id != actor.party_id)
    own_content = {
        "title": "Übernahme",
        "purpose": "Fremde Vereinbarung an sich ziehen",
        "parties": [actor.party_id, other.party_id],
        "terms": {"text": "keine"},
        "commitments": [
            {
                "debtor": actor.party_id,
                "beneficiary": other.party_id,
                "kind": "time",
                "quantity": "1",
                "unit": "hours",
                "description": "nichts",
            }
        ],
    }
    view = world.views[agreement_id]
    base = f"/v1/agreements/{agreement_id}"
    next_revision = view["revision"] + 1
    return [
        (f"{base}/revisions", {**own_content, "rationale": "übernehmen"}),
        (
            f"{base}/signatures",
            {"revision": view["revision"], "key_id": actor.key_id, "signature": "AA=="},
        ),
        (f"{base}/declination", {"reason": "nein"}),
        (f"{base}/withdrawal", {"reason": "weg"}),
        (f"{base}/termination", {"reason": "ende"}),
        (f"{base}/amendments", {**own_content, "rationale": "ändern"}),
        (f"{base}/amendments/{next_revision}/rejection", {"reason": "nein"}),
        (
            f"{base}/commitments/C1/fulfilments",
            {"quantity": "1", "delivered_on": "2026-05-01", "note": ""},
        ),
        (f"{base}/fulfilments/F1/confirmation", {}),
        (f"{base}/fulfilments/F1/dispute", {"reason": "falsch"}),
    ]


def assert_demo_reveals_nothing(world: DemoWorld, agreement_id: str, text: str) -> None:
    view = world.views[agreement_id]
    assert view["content"]["title"] not in text
    assert view["content"]["purpose"][:40] not in text
    for commitment in view["content"]["commitments"]:
        assert commitment["description"][:40] not in text
    for party in world.data.parties:
        if party.party_id in world.members[agreement_id]:
            assert party.name not in text


def test_no_demo_party_reads_or_changes_another_partys_agreement(demo: DemoWorld) -> None:
    checked = 0
    for agreement in demo.data.agreements:
        agreement_id = agreement.agreement_id
        before = demo.etag(agreement_id)
        for stranger in demo.data.parties:
            if stranger.party_id in demo.members[agreement_id]:
                continue
            headers = bearer(stranger.token)
            for path in demo_reads(agreement_id):
                response = demo.client.get(path, headers=headers)
                assert response.status_code == 404, (stranger.handle, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert_demo_reveals_nothing(demo, agreement_id, response.text)
            for path, body in demo_writes(demo, agreement_id, stranger):
                response = demo.client.post(
                    path, json=body, headers=bearer(stranger.token, **{"If-Match": before})
                )
                assert response.status_code in (403, 404), (stranger.handle, path, response.text)
                assert_demo_reveals_nothing(demo, agreement_id, response.text)
            listed = demo.client.get("/v1/agreements", headers=headers)
            assert listed.status_code == 200, listed.text
            assert agreement_id not in listed.text
            assert_demo_reveals_nothing(demo, agreement_id, listed.text)
            checked += 1
        assert demo.etag(agreement_id) == before
    assert checked >= len(demo.data.agreements)


def test_every_demo_party_reads_the_agreements_it_is_in(demo: DemoWorld) -> None:
    for agreement in demo.data.agreements:
        for party in demo.data.parties:
            if party.party_id not in demo.members[agreement.agreement_id]:
                continue
            for path in reads(agreement.agreement_id):
                response = demo.client.get(path, headers=bearer(party.token))
                assert response.status_code == 200, (party.handle, path, response.text)


def test_demo_auditors_read_every_agreement_and_researchers_none_and_neither_acts(
    demo: DemoWorld,
) -> None:
    issued = {
        role: demo.client.post("/v1/tokens", json={"role": role}, headers=demo.admin)
        for role in ("auditor", "researcher")
    }
    auditor = bearer(issued["auditor"].json()["token"])
    researcher = bearer(issued["researcher"].json()["token"])
    actor = demo.data.parties[0]
    for agreement in demo.data.agreements:
        agreement_id = agreement.agreement_id
        before = demo.etag(agreement_id)
        for path in reads(agreement_id):
            assert demo.client.get(path, headers=auditor).status_code == 200, path
            refused = demo.client.get(path, headers=researcher)
            assert refused.status_code == 403, path
            assert_demo_reveals_nothing(demo, agreement_id, refused.text)
        for path, body in demo_writes(demo, agreement_id, actor):
            for headers in (auditor, researcher, demo.admin):
                response = demo.client.post(
                    path, json=body, headers={**headers, "If-Match": before}
                )
                assert response.status_code == 403, (path, response.text)
        assert demo.etag(agreement_id) == before
