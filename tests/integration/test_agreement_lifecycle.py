"""An agreement's whole life through the application layer, on both backends."""

from __future__ import annotations

from datetime import date

from tests.support.scenario import World, draft
from tris.domain.values import Sector


def test_an_agreement_goes_from_proposal_to_completed(world: World) -> None:
    senate = world.add("Bezirksamt Mitte", Sector.STATE)
    firm = world.add("Kiezbäckerei GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY)
    agreements = world.services.agreements

    created = agreements.propose(senate.ctx(), draft(firm, assoc, senate)).body
    agreement_id = created["id"]
    assert created["status"] == "proposed"
    assert created["sector_mix"] == "trisectoral"
    assert created["content"]["commitments"][0]["id"] == "C1"

    for member in (senate, firm, assoc):
        view = world.sign(member, agreement_id, 1)
    assert view["status"] == "in_force"
    assert view["in_force_revision"] == 1

    recorded = agreements.record_fulfilment(
        firm.ctx(), agreement_id, "C1", "10", date(2026, 5, 1), "Zehn Stunden gekocht"
    ).body
    done = agreements.confirm_fulfilment(assoc.ctx(), agreement_id, recorded["id"]).body
    assert done["status"] == "completed"
    assert done["content"]["commitments"][0]["status"] == "fulfilled"
    assert done["content"]["commitments"][0]["confirmed_quantity"] == "10"

    history = agreements.history(world.admin, agreement_id)
    assert [h["type"] for h in history] == [
        "Proposed",
        "Signed",
        "Signed",
        "Signed",
        "Concluded",
        "FulfilmentRecorded",
        "FulfilmentConfirmed",
        "Completed",
    ]
    positions = [h["position"] for h in history]
    assert positions == sorted(positions) and None not in positions
    assert all(h["actor"]["token_id"] for h in history)
    assert all(len(h["hash"]) == 64 for h in history)
    assert len({h["hash"] for h in history}) == len(history)
