"""Bounds a partner cannot push past, and long lists served a page at a time, on both
backends: content size (413), revisions per agreement (422), `/revisions` and `/history`
paginated with the answers' shapes kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, build_services, content
from tris.application.access import Role
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url, max_revisions=4, max_content_bytes=64 * 1024)
    yield built
    built.close()


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    with TestClient(create_app(services)) as client:
        yield Api(client, services.tokens.issue(Role.ADMIN).token)


def revise(api: Api, trio: Trio, agreement_id: str, n: int) -> Any:
    body = {**content(trio.business, trio.state, title=f"Fassung {n}"), "rationale": "neu"}
    return api.post(trio.state, agreement_id, "revisions", body)


def test_content_larger_than_the_bound_is_refused_with_413(api: Api, trio: Trio) -> None:
    body = content(trio.business, trio.state)
    one = body["commitments"][0]
    body["commitments"] = [{**one, "description": "x" * 15_000} for _ in range(5)]
    answer = api.propose(trio.state, body)
    assert answer.status_code == 413, answer.text
    assert answer.json()["type"].endswith("/content-too-large")
    assert api.client.get("/v1/agreements", headers=api.admin).json()["items"] == []


def test_an_agreement_takes_a_bounded_number_of_revisions(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    for n in range(2, 5):
        assert revise(api, trio, agreement_id, n).status_code == 201
    refused = revise(api, trio, agreement_id, 5)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/too-many-revisions")
    view = api.client.get(f"/v1/agreements/{agreement_id}", headers=trio.state.headers()).json()
    assert view["revision"] == 4


def test_revisions_and_history_are_served_a_page_at_a_time(api: Api, trio: Trio) -> None:
    agreement_id = api.propose(trio.state, content(trio.business, trio.state)).json()["id"]
    for n in range(2, 5):
        revise(api, trio, agreement_id, n)
    headers = trio.state.headers()
    for tail, total in (("revisions", 4), ("history", 4)):
        path = f"/v1/agreements/{agreement_id}/{tail}"
        whole = api.client.get(path, headers=headers).json()
        assert whole["next_cursor"] is None and len(whole["items"]) == total
        pages: list[Any] = []
        cursor = None
        while True:
            params = {"limit": 3} | ({} if cursor is None else {"cursor": cursor})
            page = api.client.get(path, params=params, headers=headers)
            assert page.status_code == 200, page.text
            pages += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert pages == whole["items"]
        forged = api.client.get(path, params={"cursor": "Mw.AAAA"}, headers=headers)
        assert forged.status_code == 422
