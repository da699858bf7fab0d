"""Networks driven through the use cases: a small network of networks for tests."""

from __future__ import annotations

from datetime import date

from tests.support.scenario import World
from tris.application.access import Principal, Role
from tris.application.store import CommandContext
from tris.domain.networks.membership import MembershipTerms
from tris.domain.party import PartyDetails
from tris.domain.values import Sector


def network_story(world: World) -> str:
    """A networks' network with a district network in it and a company in that one (asked
    for and accepted, then its period corrected), plus an ended membership; its id."""
    services = world.services
    admin = world.admin_ctx()

    def network(name: str) -> tuple[str, CommandContext]:
        details = PartyDetails(name=name, sector=Sector.BUSINESS, network=True)
        party_id = str(services.parties.register(admin, details).body["id"])
        issued = services.tokens.issue(Role.PARTNER, party_id)
        return party_id, CommandContext(Principal(issued.token_id, Role.PARTNER, party_id).actor)

    (top, _), (district, district_ctx) = network("Netzwerk der Netzwerke"), network("Moabit")
    company = world.add("Kiezbäckerei im Netzwerk", Sector.BUSINESS)
    leaving = world.add("Spedition im Netzwerk", Sector.BUSINESS)
    networks = services.networks
    networks.request(
        admin, top, MembershipTerms(top, district, "founding_member", date(2024, 3, 1), None, "")
    )
    asked = networks.request(
        company.ctx(),
        district,
        MembershipTerms(district, company.party_id, "member", date(2024, 5, 1), None, "Antrag"),
    ).body["id"]
    networks.accept(district_ctx, district, asked)
    networks.correct(admin, district, asked, date(2024, 4, 1), None, "Aufnahme schon im April")
    ended = networks.request(
        admin,
        district,
        MembershipTerms(district, leaving.party_id, "member", date(2023, 1, 1), None, ""),
    ).body["id"]
    networks.end(
        CommandContext(leaving.principal.actor), district, ended, date(2025, 12, 31), "Umzug"
    )
    return top
