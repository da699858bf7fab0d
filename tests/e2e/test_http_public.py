"""Publication by consent: what `/v1/public/` shows without a token, and what it never shows.

An agreement is published when the revision in force says `publication: public`; its
parties' signatures are the consent. Everything else (proposals, restricted agreements,
contact persons, erased data) stays out of reach without a token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.http import Api, Trio, content

PUBLIC_FIELDS = {"publication": "public"}


def public(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, **PUBLIC_FIELDS}


@dataclass
class Published:
    """Agreements in every state the public must tell apart."""

    published: str
    restricted: str
    proposed_public: str
    withdrawn_public: str


@pytest.fixture
def cases(api: Api, trio: Trio) -> Published:
    published = api.propose(
        trio.state, public(content(trio.state, trio.civil, trio.business, title="Offen für alle"))
    ).json()["id"]
    api.conclude(published, 1, trio.state, trio.civil, trio.business)
    restricted = api.propose(
        trio.business, content(trio.business, trio.civil, title="Nur für die Parteien")
    ).json()["id"]
    api.conclude(restricted, 1, trio.business, trio.civil)
    proposed = api.propose(
        trio.civil, public(content(trio.civil, trio.state, title="Noch nicht unterschrieben"))
    ).json()["id"]
    withdrawn = api.propose(
        trio.civil, public(content(trio.civil, trio.business, title="Zurückgezogen"))
    ).json()["id"]
    answer = api.post(trio.civil, withdrawn, "withdrawal", {"reason": "doch nicht"})
    assert answer.status_code == 200, answer.text
    api.checkpoint()
    return Published(published, restricted, proposed, withdrawn)


def public_paths(api: Api) -> list[str]:
    """Every GET path under /v1/public/ the API documents."""
    spec = api.client.get("/openapi.json").json()
    return sorted(
        p for p, ops in spec["paths"].items() if p.startswith("/v1/public") and "get" in ops
    )


def filled(path: str, agreement_id: str, party_id: str) -> str:
    return (
        path.replace("{agreement_id}", agreement_id)
        .replace("{number}", "1")
        .replace("{party_id}", party_id)
        .replace("{network_id}", party_id)
        .replace("{ocid}", f"ocds-tris00-{agreement_id}")
    )


def test_signing_public_content_publishes_the_agreement_for_everyone(
    api: Api, trio: Trio, cases: Published
) -> None:
    view = api.client.get(f"/v1/public/agreements/{cases.published}")
    assert view.status_code == 200, view.text
    assert view.json()["published"] is True
    assert view.json()["content"]["publication"] == "public"
    listed = api.client.get("/v1/public/agreements")
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [cases.published]
    for tail in ("history", "revisions", "revisions/1", "revisions/1/diff?against=1"):
        answer = api.client.get(f"/v1/public/agreements/{cases.published}/{tail}")
        assert answer.status_code == 200, (tail, answer.text)
    verification = api.client.get(f"/v1/public/agreements/{cases.published}/verification")
    assert verification.status_code == 200, verification.text
    assert verification.json()["ok"] is True
    bundle = api.client.get(f"/v1/public/agreements/{cases.published}/evidence")
    assert bundle.status_code == 200, bundle.text
    assert json.loads(bundle.content)["agreement_id"] == cases.published
    # The same answers as the parties read with their tokens.
    own = api.client.get(f"/v1/agreements/{cases.published}", headers=trio.state.headers())
    assert own.json() == view.json()


def test_nothing_unpublished_is_reachable_without_a_token(
    api: Api, trio: Trio, cases: Published
) -> None:
    paths = [p for p in public_paths(api) if "{agreement_id}" in p or "{ocid}" in p]
    assert len(paths) >= 8
    for agreement_id in (cases.restricted, cases.proposed_public, cases.withdrawn_public):
        for path in paths:
            url = filled(path, agreement_id, trio.civil.party_id)
            answer = api.client.get(url, params={"against": 1} if url.endswith("diff") else None)
            assert answer.status_code == 404, (url, answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json")
    listed = api.client.get("/v1/public/agreements", params={"limit": 200})
    assert [item["id"] for item in listed.json()["items"]] == [cases.published]
    for status in ("proposed", "withdrawn", "in_force"):
        by_status = api.client.get("/v1/public/agreements", params={"status": status})
        expected = [cases.published] if status == "in_force" else []
        assert [i["id"] for i in by_status.json()["items"]] == expected, status
    searched = api.client.get("/v1/public/agreements", params={"q": "Parteien"})
    assert searched.json()["items"] == []
    # The token routes still show them to their parties.
    own = api.client.get(f"/v1/agreements/{cases.restricted}", headers=trio.business.headers())
    assert own.status_code == 200 and own.json()["published"] is False


def test_public_statistics_count_published_agreements_only(
    api: Api, trio: Trio, cases: Published
) -> None:
    everything = api.client.get("/v1/stats", headers=api.admin).json()
    published = api.client.get("/v1/public/stats")
    assert published.status_code == 200, published.text
    assert everything["agreements"]["total"] == 4
    figures = published.json()
    assert figures["agreements"]["total"] == 1
    assert figures["agreements"]["by_status"]["in_force"] == 1
    assert figures["agreements"]["by_sector_mix"]["trisectoral"] == 1
    assert figures["commitments"]["by_kind_and_unit"] == [
        {"kind": "time", "unit": "hours", "committed": "10", "fulfilled": "0"}
    ]


def test_no_public_answer_carries_a_contact_person_or_erased_data(
    api: Api, trio: Trio, cases: Published
) -> None:
    civil = api.client.get(f"/v1/parties/{trio.civil.party_id}", headers=api.admin).json()
    person_id = civil["contacts"][0]["id"]
    erased = api.client.delete(f"/v1/persons/{person_id}/personal-data", headers=api.admin)
    assert erased.status_code == 200, erased.text
    answers = []
    for path in public_paths(api):
        if "{market_id}" in path:
            continue
        url = filled(path, cases.published, trio.civil.party_id)
        answer = api.client.get(url, params={"against": 1} if url.endswith("diff") else None)
        assert answer.status_code == 200, (url, answer.text)
        answers.append(answer.text)
    text = "\n".join(answers)
    for personal in ("Erika", "erika@example.org", "030 1", person_id, "contacts"):
        assert personal not in text, personal
    profile = api.client.get(f"/v1/public/parties/{trio.civil.party_id}").json()
    assert profile["name"] == "Nachbarschaftsverein Moabit e.V."
    assert "contacts" not in profile


def test_an_amendment_to_restricted_content_unpublishes_once_it_is_adopted(
    api: Api, trio: Trio, cases: Published
) -> None:
    amended = content(trio.state, trio.civil, trio.business, title="Wieder vertraulich")
    proposal = api.post(
        trio.state, cases.published, "amendments", {**amended, "rationale": "Datenschutz"}
    )
    assert proposal.status_code == 201, proposal.text
    # While the amendment is only proposed, the public content stays in force and public.
    assert api.client.get(f"/v1/public/agreements/{cases.published}").status_code == 200
    api.conclude(cases.published, 2, trio.state, trio.civil, trio.business)
    assert api.client.get(f"/v1/public/agreements/{cases.published}").status_code == 404
    assert api.client.get("/v1/public/agreements").json()["items"] == []
    assert api.client.get("/v1/public/stats").json()["agreements"]["total"] == 0
    diff = api.client.get(
        f"/v1/agreements/{cases.published}/revisions/2/diff",
        params={"against": 1},
        headers=trio.state.headers(),
    )
    assert {
        "path": "publication",
        "change": "changed",
        "before": "public",
        "after": "restricted",
    } in diff.json()["changes"]


def test_content_without_the_field_keeps_its_exact_signing_payload(
    api: Api, trio: Trio, cases: Published
) -> None:
    restricted = api.payload(trio.business, cases.restricted, 1)
    assert b"publication" not in restricted
    assert re.search(rb'"publication":"public"', api.payload(trio.state, cases.published, 1))
    view = api.client.get(f"/v1/agreements/{cases.restricted}", headers=api.admin).json()
    assert view["content"]["publication"] == "restricted"


@pytest.mark.parametrize("word", ["Public", "open", "", 1, None])
def test_a_publication_other_than_restricted_or_public_is_refused(
    api: Api, trio: Trio, word: object
) -> None:
    body = {**content(trio.state, trio.civil), "publication": word}
    answer = api.propose(trio.state, body)
    if word is None:
        assert answer.status_code == 201, answer.text
        return
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
