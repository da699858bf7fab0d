"""Three parties, one of each sector, and an agreement driven through its whole life."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tests.support.scenario import Member, World, draft
from tris.bootstrap import Services
from tris.domain.agreement import Evidence
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms

TODAY = date(2026, 6, 1)
"""The fixed `today` of every test here, so that due dates and overdue states are stable."""


ServicesFactory = Callable[..., Services]


@dataclass
class Trio:
    """One party of each sector, each with a partner token and a signing key."""

    senate: Member
    firm: Member
    assoc: Member

    @classmethod
    def of(cls, world: World) -> Trio:
        """A district office, a bakery and a neighbourhood association, registered now."""
        return cls(
            senate=world.add("Bezirksamt Mitte", Sector.STATE),
            firm=world.add("Kiezbäckerei GmbH", Sector.BUSINESS),
            assoc=world.add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY),
        )


def two_commitment_draft(
    trio: Trio, *, quantity: str = "20", title: str = "Kiezküche"
) -> ContentDraft:
    """Revised content: C1 kept with a new quantity, a new commitment of space for the public."""
    return ContentDraft(
        title=title,
        purpose="Gemeinsam ein Mittagessen für Nachbarn organisieren",
        parties=(trio.senate.party_id, trio.firm.party_id, trio.assoc.party_id),
        terms=Terms(
            text="Nach dem Marktplatz-Prinzip, ohne Geld",
            starts_on=date(2026, 5, 1),
            ends_on=date(2026, 12, 31),
        ),
        commitments=(
            CommitmentDraft(
                id="C1",
                debtor=trio.senate.party_id,
                beneficiary=trio.firm.party_id,
                kind=CommitmentKind.TIME,
                quantity=quantity,
                unit="hours",
                description="Kochen mit Azubis",
                due_on=date(2026, 9, 30),
            ),
            CommitmentDraft(
                debtor=trio.assoc.party_id,
                beneficiary=None,
                kind=CommitmentKind.SPACE,
                quantity="3",
                unit="days",
                description="Gemeinschaftsraum",
            ),
        ),
    )


def busy_agreement(world: World, trio: Trio) -> tuple[str, dict[int, dict[str, Any]]]:
    """Drive one agreement through 13 events; return its id and the view after each command.

    Versions: 1 Proposed, 2 Revised, 3-5 Signed (5 also the last signature), 6 Concluded,
    7 FulfilmentRecorded, 8 FulfilmentConfirmed, 9 AmendmentProposed, 10 AmendmentRejected,
    11 FulfilmentRecorded, 12 FulfilmentDisputed, 13 Terminated.
    """
    agreements = world.services.agreements
    senate, firm, assoc = trio.senate, trio.firm, trio.assoc
    views: dict[int, dict[str, Any]] = {}

    def keep(view: dict[str, Any]) -> dict[str, Any]:
        views[view["version"]] = view
        return view

    first = draft(senate, firm, assoc, quantity="12.50", due_on=date(2026, 9, 30))
    agreement_id = keep(agreements.propose(senate.ctx(), first).body)["id"]
    keep(
        agreements.revise(
            firm.ctx(1), agreement_id, two_commitment_draft(trio), "Mehr Stunden, ein Raum"
        ).body
    )
    for member in (senate, firm, assoc):
        keep(world.sign(member, agreement_id, 2))
    recorded = agreements.record_fulfilment(
        senate.ctx(6),
        agreement_id,
        "C1",
        "7.25",
        date(2026, 5, 20),
        "Erste Kochrunde",
        Evidence("https://example.org/foto.jpg", "ab" * 32),
    ).body
    keep(agreements.get(world.admin, agreement_id))
    keep(agreements.confirm_fulfilment(firm.ctx(7), agreement_id, recorded["id"]).body)
    keep(
        agreements.propose_amendment(
            assoc.ctx(8), agreement_id, two_commitment_draft(trio, quantity="30"), "Mehr Zeit"
        ).body
    )
    keep(agreements.reject_amendment(senate.ctx(9), agreement_id, 3, "Zu viel").body)
    second = agreements.record_fulfilment(
        senate.ctx(10), agreement_id, "C1", "12.75", date(2026, 5, 27), "Zweite Runde"
    ).body
    keep(agreements.get(world.admin, agreement_id))
    keep(agreements.dispute_fulfilment(assoc.ctx(11), agreement_id, second["id"], "Nur 10").body)
    keep(agreements.terminate(firm.ctx(12), agreement_id, "Projekt beendet").body)
    return agreement_id, views
