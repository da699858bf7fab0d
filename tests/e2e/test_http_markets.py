"""Markets through the v1 API: a market from planning through trading to its evaluation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import TODAY, Api, bearer
from tests.support.market import Bazaar, all_events, stats_from_events
from tris.application.readmodels.queries import Queries
from tris.bootstrap import Services
from tris.domain.proofs.offline import verify_bundle
from tris.domain.proofs.signed import render_bundle

PROBLEMS = "https://tris.example/problems/"


@pytest.fixture
def bazaar(api: Api) -> Bazaar:
    """The cast of a Marktplatz, registered; no market yet."""
    return Bazaar.of(api)


def _fulfil(api: Api, bazaar: Bazaar, agreement_id: str, quantity: str) -> str:
    """The company records a delivery of C1 and the association confirms it; the position."""
    recorded = api.post(
        bazaar.company,
        agreement_id,
        "commitments/C1/fulfilments",
        {"quantity": quantity, "delivered_on": "2026-06-10", "note": "Zelt gestrichen"},
    )
    assert recorded.status_code == 201, recorded.text
    confirmed = api.post(
        bazaar.association, agreement_id, f"fulfilments/{recorded.json()['id']}/confirmation"
    )
    assert confirmed.status_code == 200, confirmed.text
    return str(confirmed.headers["X-TRIS-Position"])


def test_a_market_runs_from_planning_through_trading_to_its_evaluation(
    api: Api, bazaar: Bazaar, services: Services
) -> None:
    bazaar.open()
    first = bazaar.brokered()
    assert first["agreement"]["status"] == "proposed"
    assert first["agreement"]["origin"] == {
        "market_id": bazaar.market_id,
        "deal_id": first["id"],
        "broker": bazaar.broker.party_id,
        "offer_id": first["offer_id"],
        "need_id": first["need_id"],
    }
    # The content starts from the offer's and need's text.
    content = first["agreement"]["content"]
    assert "Zwei Malergesellen" in content["purpose"] and "Winterquartier" in content["purpose"]
    assert content["commitments"][0]["debtor"] == bazaar.company.party_id
    assert content["commitments"][0]["beneficiary"] == bazaar.association.party_id
    for side, posting_id in (("offers", first["offer_id"]), ("needs", first["need_id"])):
        posting = api.client.get(f"{bazaar.path}/{side}/{posting_id}", headers=api.admin).json()
        assert (posting["status"], posting["deal_id"]) == ("matched", first["id"])

    # A participant makes a deal for itself, with content of its own.
    own = bazaar.deal(
        bazaar.association,
        title="Zirkusworkshop für Azubis",
        purpose="Die Azubis lernen jonglieren",
        parties=[bazaar.association.party_id, bazaar.company.party_id],
        terms={"text": "Ein Nachmittag im Zelt"},
        commitments=[
            {
                "debtor": bazaar.association.party_id,
                "beneficiary": bazaar.company.party_id,
                "kind": "expertise",
                "quantity": "3",
                "unit": "hours",
                "description": "Jonglierworkshop",
            }
        ],
    )
    assert own.status_code == 201, own.text
    assert own.json()["broker"] is None
    third = bazaar.brokered()

    bazaar.conclude(first["agreement_id"])
    bazaar.conclude(own.json()["agreement_id"])
    notarised = bazaar.notarise(first["agreement_id"])
    assert notarised.status_code == 200, notarised.text
    assert notarised.json()["notarised_by"] == [
        {"party_id": bazaar.notary.party_id, "key_id": bazaar.notary.key_id, "revision": 1}
    ]
    assert bazaar.change(bazaar.organiser, "closing").status_code == 200
    position = _fulfil(api, bazaar, first["agreement_id"], "8")

    stats = bazaar.stats(position)
    assert stats == {
        "market_id": bazaar.market_id,
        "status": "closed",
        "offers": 2,
        "needs": 2,
        "deals": 3,
        "concluded": 2,
        "notarised": 1,
        "completed": 1,
        "fulfilment_rate": "0.5000",
        "commitments": [
            {"kind": "expertise", "unit": "hours", "committed": "3", "fulfilled": "0"},
            {"kind": "time", "unit": "hours", "committed": "8", "fulfilled": "8"},
        ],
    }
    # Every figure is traceable to events: recomputed from the open stream alone.
    recomputed = stats_from_events(all_events(api), bazaar.market_id)
    assert {k: v for k, v in stats.items() if k not in ("market_id", "status")} == recomputed

    # Follow-ups: none before 14 days after closing; then the workshop nobody delivered.
    auditor = bearer(api.issue_token("auditor"))
    early = api.client.get(f"{bazaar.path}/follow-ups", headers=auditor)
    assert early.status_code == 200 and early.json()["items"] == []
    later = Queries(
        services.store.database, today=lambda: date.today() + timedelta(days=15)
    ).follow_ups(bazaar.market_id)
    assert [i["agreement_id"] for i in later["items"]] == [own.json()["agreement_id"]]
    assert third["agreement_id"] not in [i["agreement_id"] for i in later["items"]]


def test_money_is_taboo_at_a_market(api: Api, bazaar: Bazaar) -> None:
    bazaar.open()
    for fields in ({"kind": "funding"}, {"unit": "EUR"}, {"unit": "Euro"}):
        refused = bazaar.post(bazaar.company, "offers", **fields)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == PROBLEMS + "money-at-market"
    offer = bazaar.posted(bazaar.company, "offers")
    deal = bazaar.deal(
        bazaar.broker,
        offer_id=offer,
        parties=[bazaar.company.party_id, bazaar.association.party_id],
        purpose="Spende",
        commitments=[
            {
                "debtor": bazaar.company.party_id,
                "beneficiary": bazaar.association.party_id,
                "kind": "in_kind",
                "quantity": "500",
                "unit": "EUR",
                "description": "Geldspende",
            }
        ],
    )
    assert deal.status_code == 422 and deal.json()["type"] == PROBLEMS + "money-at-market"
    # Nothing was matched by the refused deal.
    posting = api.client.get(f"{bazaar.path}/offers/{offer}", headers=api.admin).json()
    assert posting["status"] == "open"


def test_who_may_do_what_at_a_market(api: Api, bazaar: Bazaar) -> None:
    partner_scheduling = api.client.post("/v1/markets", json={}, headers=bazaar.organiser.headers())
    assert partner_scheduling.status_code in (403, 422)
    bazaar.open()
    # Only participants post, and only organisers admit or close.
    assert bazaar.post(bazaar.stranger, "offers").status_code == 403
    assert bazaar.change(bazaar.broker, "closing").status_code == 403
    stranger_admits = bazaar.change(
        bazaar.stranger, "participants", {"party_id": bazaar.stranger.party_id}
    )
    assert stranger_admits.status_code == 403
    # A deal needs a broker, or a participant among its parties.
    offer = bazaar.posted(bazaar.company, "offers")
    assert bazaar.deal(bazaar.stranger, offer_id=offer).status_code == 403
    assert bazaar.deal(bazaar.notary, offer_id=offer).status_code == 403
    deal = bazaar.deal(bazaar.broker, offer_id=offer, parties=[
        bazaar.company.party_id, bazaar.association.party_id
    ])  # fmt: skip
    assert deal.status_code == 201, deal.text
    agreement_id = deal.json()["agreement_id"]
    bazaar.conclude(agreement_id)
    # The broker and the notary read what their market made; a stranger does not.
    for staff in (bazaar.broker, bazaar.notary, bazaar.organiser):
        assert api.read(staff.headers(), agreement_id).status_code == 200
    assert api.read(bazaar.stranger.headers(), agreement_id).status_code == 404
    # Only a notary of the market notarises: a stranger sees nothing, a party is refused.
    assert bazaar.notarise(agreement_id, bazaar.stranger).status_code == 404
    assert bazaar.notarise(agreement_id, bazaar.company).status_code == 403
    assert bazaar.notarise(agreement_id, bazaar.broker).status_code == 403
    assert bazaar.notarise(agreement_id).status_code == 200
    twice = bazaar.notarise(agreement_id)
    assert twice.status_code == 409 and twice.json()["type"] == PROBLEMS + "already-notarised"
    # Follow-ups: organisers and auditors, not other partners nor researchers.
    assert api.client.get(
        f"{bazaar.path}/follow-ups", headers=bazaar.company.headers()
    ).status_code == 403  # fmt: skip
    researcher = bearer(api.issue_token("researcher"))
    assert api.client.get(f"{bazaar.path}/follow-ups", headers=researcher).status_code == 403
    assert api.client.get(
        f"{bazaar.path}/follow-ups", headers=bazaar.organiser.headers()
    ).status_code == 200  # fmt: skip


def test_deals_only_while_the_market_is_open(bazaar: Bazaar) -> None:
    assert bazaar.schedule().status_code == 201
    bazaar.admit(bazaar.company, bazaar.association)
    offer = bazaar.posted(bazaar.company, "offers")  # offers are collected beforehand
    planned = bazaar.deal(bazaar.broker, offer_id=offer)
    assert planned.status_code == 409 and planned.json()["type"] == PROBLEMS + "market-not-open"
    assert bazaar.change(bazaar.organiser, "opening").status_code == 200
    assert bazaar.change(bazaar.organiser, "closing").status_code == 200
    closed = bazaar.deal(bazaar.broker, offer_id=offer)
    assert closed.status_code == 409 and closed.json()["type"] == PROBLEMS + "market-not-open"
    assert bazaar.post(bazaar.company, "needs").status_code == 409
    assert bazaar.change(bazaar.organiser, "opening").status_code == 409


def test_an_offer_is_matched_by_one_deal_only(api: Api, bazaar: Bazaar) -> None:
    bazaar.open()
    first = bazaar.brokered()
    again = bazaar.deal(bazaar.broker, offer_id=first["offer_id"])
    assert again.status_code == 409 and again.json()["type"] == PROBLEMS + "posting-not-open"
    # A need named as an offer, or one of another market, is not found.
    assert bazaar.deal(bazaar.broker, offer_id=first["need_id"]).status_code == 404
    assert bazaar.deal(bazaar.broker, need_id="not-a-uuid").status_code == 404


def test_market_changes_need_if_match_and_deals_honour_idempotency(
    api: Api, bazaar: Bazaar
) -> None:
    assert bazaar.schedule().status_code == 201
    opening = f"{bazaar.path}/opening"
    missing = api.client.post(opening, headers=bazaar.organiser.headers())
    assert missing.status_code == 428
    stale = api.client.post(opening, headers=bazaar.organiser.headers(**{"If-Match": '"7"'}))
    assert stale.status_code == 412
    bazaar.admit(bazaar.company, bazaar.association)
    assert bazaar.change(bazaar.organiser, "opening").status_code == 200
    offer = bazaar.posted(bazaar.company, "offers")
    body = {"title": "Anstrich", "offer_id": offer, "parties": [
        bazaar.company.party_id, bazaar.association.party_id
    ]}  # fmt: skip
    headers = bazaar.broker.headers(**{"Idempotency-Key": "deal-1"})
    made = api.client.post(f"{bazaar.path}/deals", json=body, headers=headers)
    retried = api.client.post(f"{bazaar.path}/deals", json=body, headers=headers)
    assert made.status_code == retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["agreement_id"] == made.json()["agreement_id"]
    other = api.client.post(
        f"{bazaar.path}/deals", json={**body, "title": "Anderes"}, headers=headers
    )
    assert other.status_code == 422
    unknown = api.client.post(
        f"{bazaar.path}/offers",
        json={"kind": "time", "quantity": "1", "unit": "hours", "description": "x", "price": 1},
        headers=bazaar.company.headers(),
    )
    assert unknown.status_code == 422


def test_markets_are_listed_filtered_and_public(api: Api, bazaar: Bazaar) -> None:
    assert bazaar.schedule().status_code == 201
    neukoelln = bazaar.market_id
    round_table = bazaar.schedule(
        title="Runder Tisch Wedding",
        format="round_table",
        region="Berlin-Mitte",
        starts_at="2026-07-02T10:00:00+02:00",
        ends_at="2026-07-02T12:00:00+02:00",
    )
    assert round_table.status_code == 201
    position = round_table.headers["X-TRIS-Position"]

    def ids(**params: Any) -> list[str]:
        response = api.client.get(
            "/v1/markets", params={"min_position": position, **params}, headers=api.admin
        )
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    assert ids() == [round_table.json()["id"], neukoelln]
    assert ids(region="Berlin-Neukölln") == [neukoelln]
    assert ids(format="round_table") == [round_table.json()["id"]]
    assert ids(status="planned", date="2026-06-01") == [neukoelln]
    assert ids(date="2026-06-02") == []
    page = api.client.get("/v1/markets", params={"limit": 1}, headers=api.admin).json()
    rest = api.client.get(
        "/v1/markets", params={"limit": 1, "cursor": page["next_cursor"]}, headers=api.admin
    ).json()
    assert [m["id"] for m in page["items"] + rest["items"]] == [round_table.json()["id"], neukoelln]
    assert (
        api.client.get("/v1/markets", params={"format": "bazaar"}, headers=api.admin).status_code
        == 422
    )
    # A day is written as a day: `0` is no Unix time here.
    assert api.client.get("/v1/markets", params={"date": "0"}, headers=api.admin).status_code == 422
    # The public reads markets and their figures without a token.
    assert api.client.get("/v1/public/markets").status_code == 200
    public = api.client.get(f"/v1/public/markets/{neukoelln}")
    assert public.status_code == 200 and public.json()["title"] == "Marktplatz Neukölln 2026"
    assert api.client.get(f"/v1/public/markets/{neukoelln}/stats").status_code == 200
    assert api.client.get("/v1/public/markets/no-such-market").status_code == 404
    assert api.client.get("/v1/markets").status_code == 401


def test_the_moderators_screen_streams_the_running_totals(
    api: Api, bazaar: Bazaar, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the stream asks how far the read models are: a database read, never on the
    # event loop (which would stall every other request of the process meanwhile).
    on_the_loop: list[bool] = []
    caught_up_to = services.projections.caught_up_to

    def watched() -> int:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_the_loop.append(False)
        else:
            on_the_loop.append(True)
        return caught_up_to()

    monkeypatch.setattr(services.projections, "caught_up_to", watched)
    bazaar.open()
    with api.client.stream(
        "GET", f"{bazaar.path}/stats/live", headers=api.admin, timeout=10
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = _next_stats(lines)
        assert first["offers"] == 0
        bazaar.posted(bazaar.company, "offers")
        assert _next_stats(lines)["offers"] == 1
    assert on_the_loop and not any(on_the_loop)


def _next_stats(lines: Any) -> dict[str, Any]:
    for line in lines:
        if line.startswith("data: "):
            return dict(json.loads(line[len("data: ") :]))
    raise AssertionError("the stream ended")


def test_a_scheduled_market_names_registered_parties_only(api: Api, bazaar: Bazaar) -> None:
    unknown = bazaar.schedule(notaries=["00000000-0000-0000-0000-000000000000"])
    assert unknown.status_code == 422
    naive = bazaar.schedule(starts_at="2026-06-01T16:00:00")
    assert naive.status_code == 422
    backwards = bazaar.schedule(ends_at="2026-06-01T15:00:00+02:00")
    assert backwards.status_code == 422 and backwards.json()["type"] == PROBLEMS + "invalid-market"
    assert TODAY.year == 2026


def test_a_notarisation_is_in_the_evidence_bundle_and_checked_offline(
    api: Api, bazaar: Bazaar
) -> None:
    bazaar.open()
    agreement_id = bazaar.brokered()["agreement_id"]
    bazaar.conclude(agreement_id)
    assert bazaar.notarise(agreement_id).status_code == 200
    api.checkpoint()
    response = api.client.get(
        f"/v1/agreements/{agreement_id}/evidence", headers=bazaar.company.headers()
    )
    assert response.status_code == 200, response.text
    raw = response.content
    bundle = json.loads(raw)
    assert bundle["revisions"][0]["notarisations"][0]["party_id"] == bazaar.notary.party_id
    assert [n["party_id"] for n in bundle["notaries"]] == [bazaar.notary.party_id]
    checks = verify_bundle(raw)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = [c.name for c in checks]
    assert f"notarisation of revision 1 by party {bazaar.notary.party_id}" in names

    # A notarisation listed in the bundle that the events do not record is caught.
    forged = json.loads(raw)
    forged["revisions"][0]["notarisations"][0]["signature"] = bundle["revisions"][0]["signatures"][
        0
    ]["signature"]
    failed = {c.name for c in verify_bundle(render_bundle(forged)) if not c.ok}
    assert "revisions match events" in failed
    # The notary's keys must be those its key events register.
    forged = json.loads(raw)
    forged["notaries"][0]["keys"] = []
    failed = {c.name for c in verify_bundle(render_bundle(forged)) if not c.ok}
    assert "party keys" in failed

    # The verification endpoint checks the notarisation too.
    verification = api.client.get(
        f"/v1/agreements/{agreement_id}/verification", headers=api.admin
    ).json()
    assert verification["ok"]
    assert any(c["name"].startswith("notarisation of revision 1") for c in verification["checks"])


def test_the_auditors_own_script_checks_a_notarised_bundle(
    api: Api, bazaar: Bazaar, tmp_path: Path
) -> None:
    bazaar.open()
    agreement_id = bazaar.brokered()["agreement_id"]
    bazaar.conclude(agreement_id)
    assert bazaar.notarise(agreement_id).status_code == 200
    api.checkpoint()
    raw = api.client.get(f"/v1/agreements/{agreement_id}/evidence", headers=api.admin).content
    pin = api.client.get("/v1/server-key").json()["fingerprint"]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(raw)
    script = Path(__file__).resolve().parents[2] / "docs" / "verify_bundle.py"
    checked = subprocess.run(
        [sys.executable, str(script), str(good), pin], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "signature of revision 1 by " + bazaar.notary.party_id in checked.stdout
    # The notary's countersignature moved onto a party's signature is refused.
    forged = json.loads(raw)
    forged["revisions"][0]["notarisations"][0]["party_id"] = bazaar.company.party_id
    bad.write_bytes(render_bundle(forged))
    refused = subprocess.run(
        [sys.executable, str(script), str(bad), pin], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1 and refused.stdout.splitlines()[-1] == "NOT VERIFIED"
