"""DELETE /v1/persons/{person_id}/personal-data: admins crypto-shred one contact person."""

from __future__ import annotations

from typing import Any

from tests.support.http import Api, Trio, bearer, content

NAME, EMAIL, PHONE = "Ottilie Vergessen", "ottilie.vergessen@forget-me.example", "+49 30 4440002"


def register_with_contacts(api: Api) -> dict[str, Any]:
    return api.register_party(
        "Mieterbeirat Sparrplatz",
        "civil_society",
        contacts=[
            {"name": NAME, "email": EMAIL, "phone": PHONE},
            {"name": "Paul Bleibt", "email": "paul@example.net", "phone": None},
        ],
    )


def erase(api: Api, person_id: str, headers: dict[str, str] | None = None) -> Any:
    return api.client.delete(
        f"/v1/persons/{person_id}/personal-data", headers=api.admin if headers is None else headers
    )


def test_an_admin_erases_a_contact_person_and_every_view_shows_the_erasure(api: Api) -> None:
    party = register_with_contacts(api)
    person_id = party["contacts"][0]["id"]
    answer = erase(api, person_id)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"person_id": person_id, "party_id": party["id"], "erased": True}

    for token in (api.admin, bearer(api.issue_token("auditor"))):
        view = api.client.get(f"/v1/parties/{party['id']}", headers=token)
        assert view.status_code == 200
        erased, kept = view.json()["contacts"]
        assert erased == {
            "id": person_id,
            "name": None,
            "email": None,
            "phone": None,
            "erased": True,
        }
        assert kept["name"] == "Paul Bleibt" and kept["erased"] is False
        for secret in (NAME, EMAIL, PHONE):
            assert secret not in view.text


def test_erasing_again_answers_the_same_and_records_nothing_new(api: Api) -> None:
    person_id = register_with_contacts(api)["contacts"][0]["id"]
    first = erase(api, person_id)
    head = api.client.get("/v1/events", params={"limit": 500}, headers=api.admin).json()
    again = erase(api, person_id)
    assert again.status_code == 200 and again.json() == first.json()
    after = api.client.get("/v1/events", params={"limit": 500}, headers=api.admin).json()
    assert after == head
    assert head["items"][-1]["type"] == "PersonalDataErased"
    assert head["items"][-1]["data"] == {"person_id": person_id}


def test_an_unknown_person_is_not_found(api: Api) -> None:
    answer = erase(api, "no-such-person")
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/person-not-found")


def test_only_an_admin_erases_personal_data(api: Api, trio: Trio) -> None:
    person_id = register_with_contacts(api)["contacts"][0]["id"]
    for headers in (
        trio.state.headers(),
        bearer(api.issue_token("auditor")),
        bearer(api.issue_token("researcher")),
    ):
        refused = erase(api, person_id, headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert api.client.delete(f"/v1/persons/{person_id}/personal-data").status_code == 401
    view = api.client.get(f"/v1/parties/{trio.state.party_id}", headers=api.admin)
    assert view.status_code == 200
    still = api.client.get("/v1/parties", headers=api.admin).json()["items"]
    assert any(c["name"] == NAME for p in still for c in p.get("contacts", []))


def test_after_an_erasure_every_agreement_still_verifies(api: Api, trio: Trio) -> None:
    proposed = api.propose(trio.state, content(trio.business, trio.civil, trio.state))
    agreement_id = proposed.json()["id"]
    api.conclude(agreement_id, 1, trio.state, trio.business, trio.civil)
    civil = api.client.get(f"/v1/parties/{trio.civil.party_id}", headers=api.admin).json()
    before = api.client.get("/v1/events", params={"limit": 500}, headers=api.admin).json()

    assert erase(api, civil["contacts"][0]["id"]).status_code == 200

    after = api.client.get("/v1/events", params={"limit": 500}, headers=api.admin).json()
    assert after["items"][: len(before["items"])] == before["items"]
    api.checkpoint()
    verification = api.client.get(f"/v1/agreements/{agreement_id}/verification", headers=api.admin)
    assert verification.status_code == 200 and verification.json()["ok"] is True
    history = api.history(agreement_id)
    assert [item["type"] for item in history][-1] == "Concluded"
