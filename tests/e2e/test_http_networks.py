"""Networks of networks through the v1 API: consent, circles refused, bitemporal answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.http import Api, Partner, content
from tris.domain.proofs.offline import verify_bundle
from tris.domain.proofs.signed import render_bundle

PROBLEMS = "https://tris.example/problems/"


@pytest.fixture
def cast(api: Api) -> dict[str, Partner]:
    """The Berlin business networks' network, two district networks, a company, an
    alliance of the social economy and an association."""
    return {
        "netzwerk": api.partner("Netzwerk der Netzwerke", "business", network=True),
        "moabit": api.partner("Unternehmensnetzwerk Moabit", "business", network=True),
        "neukoelln": api.partner("Wirtschaftsnetzwerk Neukölln", "business", network=True),
        "baeckerei": api.partner("Kiezbäckerei Schulz GmbH", "business"),
        "buendnis": api.partner("Bündnis SSÖ Berlin", "civil_society", network=True),
        "verein": api.partner("Nachbarschaftshaus Moabit e.V.", "civil_society"),
    }


def _ask(api: Api, who: Partner | None, network: Partner, member: Partner, **body: Any) -> Any:
    headers = api.admin if who is None else who.headers()
    body = {"member_id": member.party_id, "role": "member", "valid_from": "2024-01-01", **body}
    return api.client.post(
        f"/v1/parties/{network.party_id}/memberships", json=body, headers=headers
    )


def _act(api: Api, who: Partner, membership: dict[str, Any], tail: str, **body: Any) -> Any:
    path = f"/v1/parties/{membership['network_id']}/memberships/{membership['id']}"
    current = api.client.get(path, headers=api.admin)
    return api.client.post(
        f"{path}/{tail}",
        json=body or None,
        headers=who.headers(**{"If-Match": current.headers["ETag"]}),
    )


def _members(api: Api, network: Partner, **params: Any) -> list[tuple[str, str | None]]:
    response = api.client.get(
        f"/v1/parties/{network.party_id}/members", params=params, headers=api.admin
    )
    assert response.status_code == 200, response.text
    return [(item["member_id"], item["via"]) for item in response.json()["items"]]


def test_a_membership_needs_the_consent_of_both_sides(api: Api, cast: dict[str, Partner]) -> None:
    asked = _ask(api, cast["baeckerei"], cast["moabit"], cast["baeckerei"], basis="Antrag")
    assert asked.status_code == 201, asked.text
    membership = asked.json()
    assert (
        membership["status"] == "pending"
        and membership["requested_by"] == cast["baeckerei"].party_id
    )
    assert _members(api, cast["moabit"], as_of="2025-01-01") == []
    # Only the other side accepts: not the company itself, not a stranger.
    assert _act(api, cast["baeckerei"], membership, "acceptance").status_code == 403
    assert _act(api, cast["verein"], membership, "acceptance").status_code == 403
    accepted = _act(api, cast["moabit"], membership, "acceptance")
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    assert _members(api, cast["moabit"], as_of="2025-01-01") == [(cast["baeckerei"].party_id, None)]
    assert _members(api, cast["moabit"], as_of="2023-12-31") == []
    # Ended by either side: a member until the last day, not after.
    ended = _act(api, cast["baeckerei"], membership, "end", valid_to="2025-06-30", reason="Umzug")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert _members(api, cast["moabit"], as_of="2025-06-30") == [(cast["baeckerei"].party_id, None)]
    assert _members(api, cast["moabit"], as_of="2025-07-01") == []
    # Rejected requests never count.
    other = _ask(api, cast["moabit"], cast["moabit"], cast["verein"]).json()
    assert _act(api, cast["verein"], other, "rejection", reason="Kein Interesse").status_code == 200
    assert _act(api, cast["verein"], other, "acceptance").status_code == 409
    listed = api.client.get(f"/v1/parties/{cast['moabit'].party_id}/memberships", headers=api.admin)
    assert [m["status"] for m in listed.json()["items"]] == ["ended", "rejected"]


def test_members_of_member_networks_are_found_through_them(
    api: Api, cast: dict[str, Partner]
) -> None:
    for network, member in (
        ("netzwerk", "moabit"),
        ("netzwerk", "neukoelln"),
        ("moabit", "baeckerei"),
    ):
        assert _ask(api, None, cast[network], cast[member]).status_code == 201
    direct = _members(api, cast["netzwerk"], as_of="2025-01-01")
    assert sorted(direct) == sorted(
        [(cast["moabit"].party_id, None), (cast["neukoelln"].party_id, None)]
    )
    transitive = _members(api, cast["netzwerk"], as_of="2025-01-01", transitive="true")
    assert (cast["baeckerei"].party_id, cast["moabit"].party_id) in transitive
    networks = api.client.get(
        f"/v1/parties/{cast['baeckerei'].party_id}/networks",
        params={"as_of": "2025-01-01", "transitive": "true"},
        headers=cast["baeckerei"].headers(),
    ).json()["items"]
    assert [(n["network_id"], n["via"], n["depth"]) for n in networks] == [
        (cast["moabit"].party_id, None, 1),
        (cast["netzwerk"].party_id, cast["moabit"].party_id, 2),
    ]


def test_a_circle_is_refused_whatever_order_the_memberships_come_in(
    api: Api, cast: dict[str, Partner]
) -> None:
    assert (
        _ask(
            api,
            None,
            cast["netzwerk"],
            cast["moabit"],
            valid_from="2024-01-01",
            valid_to="2024-12-31",
        ).status_code
        == 201
    )
    assert _ask(api, None, cast["moabit"], cast["neukoelln"]).status_code == 201
    # Neukölln ∈ Moabit ∈ Netzwerk in 2024: the Netzwerk cannot join Neukölln in 2024 …
    circle = _ask(api, None, cast["neukoelln"], cast["netzwerk"], valid_from="2024-06-01")
    assert circle.status_code == 409 and circle.json()["type"] == PROBLEMS + "membership-cycle"
    # … but from 2025, when Moabit no longer belongs to it, it can.
    assert (
        _ask(api, None, cast["neukoelln"], cast["netzwerk"], valid_from="2025-01-01").status_code
        == 201
    )
    # A network is never its own member.
    itself = _ask(api, None, cast["buendnis"], cast["buendnis"])
    assert itself.status_code == 409
    # A pending request that would close a circle is refused when asked for …
    pending = _ask(api, cast["moabit"], cast["moabit"], cast["buendnis"]).json()
    assert (
        _ask(api, None, cast["buendnis"], cast["moabit"], valid_from="2026-01-01").status_code
        == 201
    )
    # … and when accepted, if the circle appeared meanwhile.
    refused = _act(api, cast["buendnis"], pending, "acceptance")
    assert refused.status_code == 409 and refused.json()["type"] == PROBLEMS + "membership-cycle"


def test_what_tris_knew_then_is_answered_apart_from_what_held_then(
    api: Api, cast: dict[str, Partner]
) -> None:
    recorded = _ask(api, None, cast["buendnis"], cast["verein"], valid_from="2020-01-01").json()
    before = datetime.now(UTC).isoformat()
    corrected = _act(
        api,
        cast["buendnis"],
        recorded,
        "correction",
        valid_from="2022-01-01",
        reason="Beitritt erst 2022",
    )
    assert corrected.status_code == 200, corrected.text
    # Today TRIS knows the association joined in 2022; before the correction it said 2020.
    assert _members(api, cast["buendnis"], as_of="2021-01-01") == []
    assert _members(api, cast["buendnis"], as_of="2021-01-01", recorded_as_of=before) == [
        (cast["verein"].party_id, None)
    ]
    assert (
        _members(api, cast["buendnis"], as_of="2021-01-01", recorded_as_of="2000-01-01T00:00:00Z")
        == []
    )


def test_an_ended_membership_cannot_be_corrected_into_an_open_one(
    api: Api, cast: dict[str, Partner]
) -> None:
    recorded = _ask(api, None, cast["buendnis"], cast["verein"], valid_from="2020-01-01").json()
    ended = _act(api, cast["verein"], recorded, "end", valid_to="2023-12-31", reason="Austritt")
    assert ended.status_code == 200, ended.text
    assert ended.json()["end_reason"] == "Austritt"
    listed = api.client.get(
        f"/v1/parties/{cast['buendnis'].party_id}/memberships", headers=api.admin
    ).json()["items"]
    assert [(m["id"], m["status"], m["end_reason"]) for m in listed] == [
        (recorded["id"], "ended", "Austritt")
    ]
    reopened = _act(
        api, cast["buendnis"], recorded, "correction", valid_from="2020-01-01", valid_to=None,
        reason="doch nicht ausgetreten",
    )  # fmt: skip
    assert reopened.status_code == 422, reopened.text
    assert "last day" in reopened.json()["detail"]
    later = _act(
        api, cast["buendnis"], recorded, "correction", valid_from="2020-01-01",
        valid_to="2024-06-30", reason="Austritt erst zur Jahresmitte",
    )  # fmt: skip
    assert later.status_code == 200, later.text
    assert later.json()["status"] == "ended" and later.json()["valid_to"] == "2024-06-30"
    assert _members(api, cast["buendnis"], as_of="2024-03-01") == [(cast["verein"].party_id, None)]
    assert _members(api, cast["buendnis"], as_of="2024-07-01") == []


def test_memberships_refuse_what_is_not_a_network_or_not_well_formed(
    api: Api, cast: dict[str, Partner]
) -> None:
    not_network = _ask(api, None, cast["baeckerei"], cast["verein"])
    assert (
        not_network.status_code == 409 and not_network.json()["type"] == PROBLEMS + "not-a-network"
    )
    for body in ({"role": "Chef!"}, {"valid_from": "2025-01-01", "valid_to": "2024-01-01"},
                 {"member_id": "00000000-0000-0000-0000-000000000000"}, {"basis": "a\x00b"},
                 {"extra": 1}):  # fmt: skip
        refused = _ask(api, None, cast["moabit"], cast["baeckerei"], **body)
        assert refused.status_code == 422, (body, refused.text)
    # Only the sides ask: a third party cannot put the company into a network.
    assert _ask(api, cast["verein"], cast["moabit"], cast["baeckerei"]).status_code == 403
    assert api.client.get("/v1/parties/nobody/members", headers=api.admin).status_code == 404
    assert (
        api.client.get(
            f"/v1/parties/{cast['moabit'].party_id}/members",
            params={"recorded_as_of": "2025-01-01T00:00:00"},
            headers=api.admin,
        ).status_code
        == 422
    )
    for params in ({"as_of": "0"}, {"recorded_as_of": "0"}, {"as_of": "20250101"}):
        wrong = api.client.get(
            f"/v1/parties/{cast['moabit'].party_id}/members", params=params, headers=api.admin
        )
        assert wrong.status_code == 422, params
    missing_match = api.client.post(
        f"/v1/parties/{cast['moabit'].party_id}/memberships/x/acceptance",
        headers=cast["moabit"].headers(),
    )
    assert missing_match.status_code == 428


def test_agreements_and_stats_are_filtered_by_a_networks_members(
    api: Api, cast: dict[str, Partner]
) -> None:
    assert (
        _ask(api, None, cast["netzwerk"], cast["moabit"], valid_from="2024-01-01").status_code
        == 201
    )
    assert (
        _ask(api, None, cast["moabit"], cast["baeckerei"], valid_from="2025-01-01").status_code
        == 201
    )
    inside = api.propose(cast["baeckerei"], content(cast["baeckerei"], cast["verein"])).json()["id"]
    api.conclude(inside, 1, cast["baeckerei"], cast["verein"])
    assert api.propose(cast["verein"], content(cast["verein"], cast["buendnis"])).status_code == 201

    def listed(**params: Any) -> set[str]:
        response = api.client.get("/v1/agreements", params=params, headers=api.admin)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    network = cast["netzwerk"].party_id
    assert listed(network=network) == {inside}
    assert listed(network=network, as_of="2024-06-01") == set()  # the bakery joined in 2025
    assert listed(network=cast["moabit"].party_id, sector_mix="bisectoral") == {inside}
    assert (
        api.client.get(
            "/v1/agreements", params={"as_of": "2025-01-01"}, headers=api.admin
        ).status_code
        == 422
    )
    stats = api.client.get("/v1/stats", params={"network": network}, headers=api.admin).json()
    assert stats["agreements"]["total"] == 1 and stats["agreements"]["by_status"]["in_force"] == 1
    assert stats["commitments"]["by_kind_and_unit"] == [
        {"kind": "time", "unit": "hours", "committed": "10", "fulfilled": "0"}
    ]
    # A network holding every party says what the unfiltered statistics say.
    everyone = api.partner("Alle", "state", network=True)
    for partner in cast.values():
        if partner is not cast["netzwerk"] and partner is not cast["moabit"]:
            assert _ask(api, None, everyone, partner).status_code == 201
    everything = api.client.get(
        "/v1/stats", params={"network": everyone.party_id}, headers=api.admin
    ).json()
    assert everything == api.client.get("/v1/stats", headers=api.admin).json()


def test_an_evidence_bundle_carries_the_signers_memberships_at_each_signature(
    api: Api, cast: dict[str, Partner]
) -> None:
    held = _ask(api, None, cast["moabit"], cast["baeckerei"], valid_from="2020-01-01").json()
    agreement_id = api.propose(
        cast["baeckerei"], content(cast["baeckerei"], cast["verein"])
    ).json()["id"]
    api.conclude(agreement_id, 1, cast["baeckerei"], cast["verein"])
    # Recorded after the signatures, valid since 2019: TRIS did not know it when they signed.
    late = _ask(api, None, cast["buendnis"], cast["verein"], valid_from="2019-01-01").json()
    api.checkpoint()
    raw = api.client.get(
        f"/v1/agreements/{agreement_id}/evidence", params={"memberships": "true"}, headers=api.admin
    ).content
    checks = verify_bundle(raw)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {"membership events", "memberships at signatures"} <= {c.name for c in checks}
    bundle = json.loads(raw)
    claims = {c["party_id"]: c["memberships"] for c in bundle["memberships_at_signatures"]}
    assert [m["membership_id"] for m in claims[cast["baeckerei"].party_id]] == [held["id"]]
    assert claims[cast["verein"].party_id] == []  # the late record is in the bundle, not held
    assert {e["aggregate_id"] for e in bundle["membership_events"]} == {held["id"], late["id"]}
    # Without asking, the bundle stays as it was.
    plain = json.loads(
        api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=api.admin).content
    )
    assert "membership_events" not in plain

    forged = json.loads(raw)
    forged["memberships_at_signatures"][1]["memberships"] = claims[cast["baeckerei"].party_id]
    assert "memberships at signatures" in {
        c.name for c in verify_bundle(render_bundle(forged)) if not c.ok
    }
    # A membership left out is missed at its signature; a changed event fails its hash.
    forged = json.loads(raw)
    forged["membership_events"] = forged["membership_events"][1:]
    forged["membership_inclusion_proofs"] = forged["membership_inclusion_proofs"][1:]
    failed = {c.name for c in verify_bundle(render_bundle(forged)) if not c.ok}
    assert "memberships at signatures" in failed
    forged = json.loads(raw)
    event = forged["membership_events"][0]
    event["state"] = event["state"].replace('"role":"member"', '"role":"board"')
    failed = {c.name for c in verify_bundle(render_bundle(forged)) if not c.ok}
    assert "membership events" in failed
