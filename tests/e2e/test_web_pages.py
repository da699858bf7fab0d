"""The portal's pages over HTTP on each backend: hostile input, sessions, headers, visibility.

The browser tests (tests/browser/) look at the pages; these check what an attacker or a
careless link can send them, and that the audit sessions hold.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.http import Api, Trio, content
from tris.application.access import Principal, Role
from tris.bootstrap import Services
from tris.interfaces.web.audit import sessions
from tris.interfaces.web.sessions import COOKIE, LIFETIME

PUBLIC = {"publication": "public"}


@pytest.fixture
def agreements(api: Api, trio: Trio) -> dict[str, str]:
    published = api.propose(
        trio.state, {**content(trio.state, trio.civil, trio.business), **PUBLIC}
    ).json()["id"]
    api.conclude(published, 1, trio.state, trio.civil, trio.business)
    restricted = api.propose(
        trio.business, content(trio.business, trio.civil, title="Vertraulich")
    ).json()["id"]
    api.conclude(restricted, 1, trio.business, trio.civil)
    api.checkpoint()
    return {"published": published, "restricted": restricted}


def session_cookie(services: Services, role: Role, party_id: str | None = None) -> str:
    issued = services.tokens.issue(role, party_id)
    return sessions(services).issue(Principal(issued.token_id, role, party_id))


def get(client: TestClient, path: str, cookie: str | None, **kwargs: Any) -> httpx.Response:
    """GET `path` with this session cookie (none: without one)."""
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(COOKIE, cookie)
    return client.get(path, **kwargs)


def fresh_csrf(client: TestClient) -> str:
    """The CSRF value of a freshly served sign-in form (its pre-session cookie kept)."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/audit/login").text)
    assert found is not None
    return found[1]


def test_every_page_answers_with_security_headers_and_no_outside_resources(
    client: TestClient, agreements: dict[str, str]
) -> None:
    for path in ("/", "/agreements", f"/agreements/{agreements['published']}", "/markets"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html")
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r'(src|href)="(https?:)?//', answer.text), path


@pytest.mark.parametrize(
    "path",
    [
        "/agreements?cursor=not-a-cursor",
        "/agreements?status=bribed",
        "/agreements?sector_mix=%00",
        "/agreements/not-a-uuid",
        "/agreements/00000000-0000-0000-0000-000000000000",
        "/agreements/00000000-0000-0000-0000-000000000000/compare?old=1&new=2",
        "/agreements/00000000-0000-0000-0000-000000000000/events/1",
        "/agreements/00000000-0000-0000-0000-000000000000/revisions/1/certificate",
        "/parties/nobody",
        "/networks/nobody",
        "/markets/nowhere",
        "/agreements?q=" + "%27%22%3Cscript%3E" * 20,
        "/agreements/x/events/abc",
        "/agreements/x/compare?old=-1",
        "/?lang=%3Cscript%3E",
    ],
)
def test_hostile_or_wrong_addresses_get_a_clear_answer_never_a_500(
    client: TestClient, path: str
) -> None:
    answer = client.get(path)
    assert answer.status_code < 500, (path, answer.text[:300])
    assert "<script>" not in answer.text
    assert "Traceback" not in answer.text


def test_a_restricted_agreement_is_a_404_page_to_the_public(
    client: TestClient, agreements: dict[str, str]
) -> None:
    for tail in ("", "/compare", "/revisions/1/certificate", "/events/1"):
        answer = client.get(f"/agreements/{agreements['restricted']}{tail}")
        assert answer.status_code == 404, tail
        assert "Vertraulich" not in answer.text
    listed = client.get("/agreements").text
    assert "Vertraulich" not in listed and "Kiezküche" in listed


def test_a_compare_of_revisions_that_do_not_exist_is_refused(
    client: TestClient, agreements: dict[str, str]
) -> None:
    answer = client.get(f"/agreements/{agreements['published']}/compare?old=1&new=9")
    assert answer.status_code == 404


def test_the_audit_pages_need_a_genuine_unexpired_session_of_an_active_token(
    client: TestClient, services: Services, trio: Trio, agreements: dict[str, str]
) -> None:
    page = f"/audit/agreements/{agreements['restricted']}"
    assert get(client, page, None, follow_redirects=False).headers["location"] == "/audit/login"
    cookie = session_cookie(services, Role.AUDITOR)
    good = get(client, page, cookie)
    assert good.status_code == 200 and "Vertraulich" in good.text
    assert good.headers["cache-control"] == "no-store"
    # A forged signature, another role written into a genuine cookie, an expired one.
    payload, mac = cookie.split(".")
    for forged in (f"{payload}.{mac[:-2]}xx", f"{payload[:-4]}AAAA.{mac}", "x" * 5000, ".", ""):
        refused = get(client, page, forged, follow_redirects=False)
        assert refused.status_code == 303, forged[:40]
    auditor = services.tokens.issue(Role.AUDITOR)
    principal = Principal(auditor.token_id, Role.AUDITOR)
    expired = sessions(services).issue(principal, now=time.time() - LIFETIME - 1)
    assert get(client, page, expired, follow_redirects=False).status_code == 303
    # Revoking the token ends its sessions.
    live = sessions(services).issue(principal)
    assert get(client, page, live).status_code == 200
    services.tokens.revoke(auditor.token_id)
    assert get(client, page, live, follow_redirects=False).status_code == 303


def test_a_partner_signed_in_sees_its_own_agreements_only(
    client: TestClient, services: Services, trio: Trio, agreements: dict[str, str]
) -> None:
    state = session_cookie(services, Role.PARTNER, trio.state.party_id)
    listed = get(client, "/audit/agreements", state).text
    assert "Kiezküche" in listed and "Vertraulich" not in listed
    restricted = get(client, f"/audit/agreements/{agreements['restricted']}", state)
    assert restricted.status_code == 404
    business = session_cookie(services, Role.PARTNER, trio.business.party_id)
    own = get(client, f"/audit/agreements/{agreements['restricted']}", business)
    assert own.status_code == 200 and "Vertraulich" in own.text
    bundle = get(client, f"/audit/evidence/{agreements['restricted']}.json", business)
    assert bundle.status_code == 200 and bundle.json()["agreement_id"] == agreements["restricted"]
    stranger = get(client, f"/audit/evidence/{agreements['restricted']}.json", state)
    assert stranger.status_code == 404


def test_signing_in_checks_the_forms_csrf_value_and_the_token(
    client: TestClient, services: Services
) -> None:
    auditor = services.tokens.issue(Role.AUDITOR).token
    fresh_csrf(client)
    wrong = client.post("/audit/login", data={"token": auditor, "csrf": "forged"})
    assert wrong.status_code == 403 and COOKIE not in client.cookies
    bad = client.post("/audit/login", data={"token": "tris_nope", "csrf": fresh_csrf(client)})
    assert bad.status_code == 401 and COOKIE not in client.cookies
    researcher = services.tokens.issue(Role.RESEARCHER).token
    refused = client.post("/audit/login", data={"token": researcher, "csrf": fresh_csrf(client)})
    assert refused.status_code == 403 and COOKIE not in client.cookies
    signed_in = client.post(
        "/audit/login",
        data={"token": auditor, "csrf": fresh_csrf(client)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/audit/agreements"
    header = signed_in.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and auditor.lower() not in header
    # Signing out needs the session's own CSRF value.
    page = client.get("/audit/agreements")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    forged = client.post("/audit/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    out = client.post("/audit/logout", data={"csrf": token[1]}, follow_redirects=False)
    assert out.status_code == 303 and 'tris_session=""' in out.headers["set-cookie"]


def test_a_huge_or_malformed_sign_in_form_is_refused_without_harm(client: TestClient) -> None:
    huge = client.post(
        "/audit/login",
        content=b"token=" + b"a" * 100_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code in (403, 413)
    for body, kind in ((b"\xff\xfe", "application/x-www-form-urlencoded"), (b"{}", "text/json")):
        answer = client.post("/audit/login", content=body, headers={"content-type": kind})
        assert answer.status_code == 403


def test_the_list_filters_by_party_and_network_as_the_api_does(
    client: TestClient, api: Api, trio: Trio, agreements: dict[str, str]
) -> None:
    for party, shown in ((trio.state, True), (trio.outsider, False)):
        page = client.get("/agreements", params={"party": party.party_id, "lang": "en"})
        assert page.status_code == 200
        assert ("Kiezküche" in page.text) is shown
        assert "Vertraulich" not in page.text
        assert f'name="party" value="{party.party_id}"' in page.text  # kept by the form
    network = api.partner("Netzwerk Mitte", "business", network=True)
    recorded = api.client.post(
        f"/v1/parties/{network.party_id}/memberships",
        json={"member_id": trio.civil.party_id, "role": "member", "valid_from": "2024-01-01"},
        headers=api.admin,
    )
    assert recorded.status_code == 201, recorded.text
    members = client.get("/agreements", params={"network": network.party_id})
    assert "Kiezküche" in members.text and "Netzwerk Mitte" in members.text
    profile = client.get(f"/parties/{trio.state.party_id}")
    assert f"/agreements?party={trio.state.party_id}" in profile.text


@pytest.mark.parametrize(
    "suffix", ["", "/revisions/1/certificate", "/events/1", "/compare?old=1&new=1"]
)
def test_an_agreements_page_loads_the_agreement_once(
    client: TestClient,
    services: Services,
    agreements: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
) -> None:
    log = services.store.log
    loaded: list[Any] = []
    load = log.load

    def counted(aggregate_id: Any, version: int | None = None) -> Any:
        loaded.append((aggregate_id, version))
        return load(aggregate_id, version)

    monkeypatch.setattr(log, "load", counted)
    path = f"/agreements/{agreements['published']}{suffix}"
    assert client.get(path).status_code == 200, path
    assert [str(i) for i, _ in loaded].count(agreements["published"]) == 1, loaded
    # The scope ends with the page: the next page loads the agreement afresh.
    assert client.get(path).status_code == 200
    assert [str(i) for i, _ in loaded].count(agreements["published"]) == 2
