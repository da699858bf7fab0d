"""Nothing storage cannot hold gets in, over HTTP on both backends: control characters in
bodies, the path and query parameters; non-ASCII digits in quantities; dates out of range.
Every refusal is a 422 problem, nothing is recorded, and the read models keep up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import Api, Trio, content

PROBLEM = "application/problem+json"


def refused(response: Any) -> str:
    """The problem type of a 422 answer."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return str(response.json()["type"])


def assert_read_models_keep_up(api: Api) -> None:
    health = api.client.get("/healthz").json()
    assert health["status"] == "ok", health


@pytest.mark.parametrize(
    "title", ["a\u0000b", "Zeile\nzwei", "tab\there", "\x1b[31mrot", "del\x7f", "\x85", "\ufffe"]
)
def test_a_title_with_a_control_character_is_refused(api: Api, trio: Trio, title: str) -> None:
    """The attack: a NUL in a title used to stop PostgreSQL's read models for everyone."""
    before = api.client.get("/v1/agreements", headers=api.admin).json()["items"]
    answer = api.propose(trio.state, content(trio.business, trio.state, title=title))
    assert refused(answer).endswith("/invalid-text")
    assert api.client.get("/v1/agreements", headers=api.admin).json()["items"] == before
    assert_read_models_keep_up(api)


def test_multi_line_texts_keep_their_line_breaks_and_tabs(api: Api, trio: Trio) -> None:
    body = content(trio.business, trio.state)
    body["purpose"] = "Erstens:\tkochen\r\nZweitens: spülen"
    body["terms"]["text"] = "§ 1\n§ 2"
    created = api.propose(trio.state, body)
    assert created.status_code == 201, created.text
    assert created.json()["content"]["purpose"] == body["purpose"]
    assert_read_models_keep_up(api)


@pytest.mark.parametrize("field", ["purpose", "description", "terms"])
def test_a_nul_in_any_text_of_a_proposal_is_refused(api: Api, trio: Trio, field: str) -> None:
    body = content(trio.business, trio.state)
    if field == "description":
        body["commitments"][0]["description"] = "ko\u0000chen"
    elif field == "terms":
        body["terms"]["text"] = "ohne\u0000Geld"
    else:
        body[field] = "ge\u0000meinsam"
    assert refused(api.propose(trio.state, body)).endswith("/invalid-text")


def test_party_details_contacts_reasons_and_notes_refuse_control_characters(
    api: Api, trio: Trio
) -> None:
    party = api.client.post(
        "/v1/parties", json={"name": "Verein\u0000", "sector": "civil_society"}, headers=api.admin
    )
    assert refused(party).endswith("/invalid-text")
    contact = api.client.post(
        "/v1/parties",
        json={
            "name": "Verein",
            "sector": "civil_society",
            "contacts": [{"name": "Ada\nLovelace", "email": "ada@example.org"}],
        },
        headers=api.admin,
    )
    assert refused(contact).endswith("/invalid-text")
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    withdrawal = api.post(trio.state, agreement_id, "withdrawal", {"reason": "nein\u0000"})
    assert refused(withdrawal).endswith("/invalid-text")
    token = api.client.post(
        "/v1/tokens", json={"role": "auditor", "label": "a\u0000"}, headers=api.admin
    )
    assert token.status_code == 422


def test_a_delivery_note_and_date_are_checked(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    api.conclude(agreement_id, 1, trio.state, trio.business)
    path = "commitments/C1/fulfilments"
    note = api.post(
        trio.business, agreement_id, path,
        {"quantity": "2", "delivered_on": "2026-05-02", "note": "zwei\u0000"},
    )  # fmt: skip
    assert refused(note).endswith("/invalid-text")
    for day in ("0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"):
        late = api.post(
            trio.business, agreement_id, path,
            {"quantity": "2", "delivered_on": day, "note": "zwei Stunden"},
        )  # fmt: skip
        assert late.status_code == 422, (day, late.text)
    assert_read_models_keep_up(api)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_terms_and_due_dates_out_of_range_are_refused(api: Api, trio: Trio, day: str) -> None:
    ends = content(trio.business, trio.state)
    ends["terms"]["ends_on"] = day if day > "2026" else None
    ends["terms"]["starts_on"] = day if day < "2026" else "2026-01-01"
    assert api.propose(trio.state, ends).status_code == 422
    due = api.propose(trio.state, content(trio.business, trio.state, due_on=day))
    assert due.status_code == 422


@pytest.mark.parametrize(
    "quantity", ["\u0661\u0662\u0663", "\uff11\uff12", "12\n", "\u0663.\u0665", "1e3", " 12"]
)
def test_a_quantity_is_ascii_digits_only(api: Api, trio: Trio, quantity: str) -> None:
    """The attack: Arabic-Indic digits were read as 123, a trailing newline was ignored."""
    answer = api.propose(trio.state, content(trio.business, trio.state, quantity=quantity))
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    "query",
    ["q=%00", "q=a%00b", "q=%0A", "status=%00", "cursor=%00", "party=%1B", "limit=1%00"],
)
def test_a_control_character_in_a_query_parameter_is_refused(
    api: Api, trio: Trio, query: str
) -> None:
    """The attack: `?q=%00` answered 500."""
    answer = api.client.get(f"/v1/agreements?{query}", headers=api.admin)
    assert refused(answer).endswith("/control-character")
    assert_read_models_keep_up(api)


@pytest.mark.parametrize(
    "path",
    ["/v1/agreements/a%00b", "/v1/parties/%00", "/v1/tokens/%00", "/v1/parties/x%0Ay/commitments"],
)
def test_a_control_character_in_the_path_is_not_found(api: Api, trio: Trio, path: str) -> None:
    method = api.client.delete if path.startswith("/v1/tokens") else api.client.get
    answer = method(path, headers=api.admin)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "path",
    [
        "/v1/agreements?status=proposed&status=in_force",
        "/v1/agreements?limit=1&min_position=&min_position=0",
        "/v1/events?after=0&after=5",
        "/v1/public/agreements?q=a&q=b",
    ],
)
def test_a_query_parameter_given_twice_is_refused(api: Api, trio: Trio, path: str) -> None:
    """Found by the fuzzer: `?min_position=&min_position=0.0` was answered for the last
    value alone, 200."""
    answer = api.client.get(path, headers=api.admin)
    assert refused(answer).endswith("/repeated-query-parameter")
    assert "given more than once" in answer.json()["detail"]
    # Once each, the same parameters are answered.
    base, query = path.split("?", maxsplit=1)
    single = base + "?" + query.split("&", maxsplit=1)[0]
    assert api.client.get(single, headers=api.admin).status_code == 200, single
