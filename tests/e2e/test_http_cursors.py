"""Cursors are opaque and tamper-evident: every paginated endpoint answers a changed, made-up
or malformed cursor with a 422 problem, never a 5xx, on both backends."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http import Api, Trio, content

PROBLEM = "application/problem+json"


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# The attacks of issue 13: the old unsigned cursors with values of the wrong type, and a
# superscript two, which passes str.isdigit but not int().
FORGED = [
    b64(["abc"]),
    b64(["1e999"]).replace("IjFlOTk5Il0", "WzFlOTk5XQ"),
    "WzFlOTk5XQ",  # [1e999]
    b64([None]),
    b64([{"a": 1}]),
    b64([1, 2, 3]),
    "²",
    "%C2%B2",
    "",
    ".",
    "a.b",
    "x" * 600,
]


@pytest.fixture
def paths(api: Api, trio: Trio) -> list[str]:
    for n in range(3):
        created = api.propose(trio.state, content(trio.business, trio.state, title=f"Nr. {n}"))
        assert created.status_code == 201, created.text
        api.conclude(created.json()["id"], 1, trio.state, trio.business)
    return [
        "/v1/agreements",
        "/v1/parties",
        f"/v1/parties/{trio.state.party_id}/commitments",
        "/v1/tokens",
    ]


def test_a_forged_or_malformed_cursor_is_refused_on_every_listing(
    api: Api, paths: list[str]
) -> None:
    for path in paths:
        for cursor in FORGED:
            answer = api.client.get(path, params={"cursor": cursor}, headers=api.admin)
            assert answer.status_code in (400, 422), (path, cursor, answer.text)
            assert answer.headers["content-type"] == PROBLEM


def test_a_real_cursor_pages_and_a_changed_one_is_refused(api: Api, paths: list[str]) -> None:
    for path in paths:
        first = api.client.get(path, params={"limit": 1}, headers=api.admin).json()
        cursor = first["next_cursor"]
        assert cursor, path
        second = api.client.get(path, params={"limit": 1, "cursor": cursor}, headers=api.admin)
        assert second.status_code == 200
        assert second.json()["items"] != first["items"]
        body, tag = cursor.split(".")
        for changed in (
            f"{body}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",
            f"{b64([0] if path.endswith('commitments') is False else [0, 'C1'])}.{tag}",
            body,
        ):
            refused = api.client.get(path, params={"cursor": changed}, headers=api.admin)
            assert refused.status_code == 422, (path, changed, refused.text)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cursor=st.text(max_size=80))
def test_any_text_as_a_cursor_answers_422_never_5xx(
    api: Api, paths: list[str], cursor: str
) -> None:
    for path in paths:
        answer = api.client.get(path, params={"cursor": cursor}, headers=api.admin)
        assert answer.status_code in (404, 422), (path, cursor, answer.status_code)


def test_tokens_are_listed_a_page_at_a_time_without_loss_or_repetition(api: Api) -> None:
    issued = {api.issue_token("researcher") for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/tokens", params=params, headers=api.admin)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["token_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    everything = api.client.get("/v1/tokens", params={"limit": 500}, headers=api.admin).json()
    assert seen == [item["token_id"] for item in everything["items"]]
    assert len(seen) >= len(issued) + 1
