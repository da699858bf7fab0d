"""The demo's networks of networks: the Berlin business networks' network with district
networks and their companies, and the social and solidarity economy alliance with its
members — one membership ended, one corrected, most asked for and accepted, older ones
recorded from the networks' own lists."""

from __future__ import annotations

from datetime import date

from tris.application.store import CommandContext
from tris.demo.cast import Member, PartySpec
from tris.demo.markets import MarketStories
from tris.domain.networks.membership import MembershipTerms
from tris.domain.party import Identifier
from tris.domain.values import Sector

NETWORK_PARTIES = (
    PartySpec(
        "netzwerk_der_netzwerke",
        "Netzwerk der Berliner Unternehmensnetzwerke e.V.",
        Sector.BUSINESS,
        "Berlin",
        "Zusammenschluss der ehrenamtlich getragenen bezirklichen Unternehmensnetzwerke, damit "
        "der Senat einen Ansprechpartner hat und jedes Netzwerk sein Profil behält.",
        "https://netzwerk-der-netzwerke.example.org",
        "Claudia Weber",
        "c.weber@netzwerk-der-netzwerke.example.org",
        network=True,
        identifiers=(Identifier("DE-VR", "VR 39120 B"),),
    ),
    PartySpec(
        "netzwerk_neukoelln",
        "Unternehmensnetzwerk Neukölln-Südring e.V.",
        Sector.BUSINESS,
        "Berlin-Neukölln",
        "Rund 40 Handwerks- und Logistikbetriebe rund um den Südring, ehrenamtlich organisiert.",
        "https://unternehmensnetzwerk-suedring.example.org",
        "Deniz Aydin",
        "d.aydin@unternehmensnetzwerk-suedring.example.org",
        network=True,
    ),
)


class NetworkStories(MarketStories):
    """The networks of the demo, played through the network use cases."""

    def _membership(
        self,
        who: Member | None,
        network: Member,
        member: Member,
        since: date,
        *,
        role: str = "member",
        basis: str = "",
        accept: bool = True,
    ) -> str:
        """Ask as `who` (None: an operator records it) and, when asked, accept as the other
        side; the membership's id."""
        ctx = CommandContext(self.admin.actor) if who is None else who.ctx()
        terms = MembershipTerms(network.party_id, member.party_id, role, since, None, basis)
        networks = self.services.networks
        membership_id: str = networks.request(ctx, network.party_id, terms).body["id"]
        if who is not None and accept:
            other = member if who is network else network
            networks.accept(other.ctx(), network.party_id, membership_id)
        return membership_id

    def networks_of_networks(self) -> None:
        """Business networks inside the networks' network; the alliance and its members."""
        for spec in NETWORK_PARTIES:
            self.members[spec.handle] = self.register(spec)
        m = self.market_members()
        ndn, moabit, suedring = (
            m["netzwerk_der_netzwerke"],
            m["netzwerk"],
            m["netzwerk_neukoelln"],
        )
        networks = self.services.networks
        # The district networks joined the networks' network when it was founded.
        founding = "Gründungsversammlung vom 14. März 2024"
        self._membership(None, ndn, moabit, date(2024, 3, 14), role="founding_member",
                         basis=founding)  # fmt: skip
        self._membership(suedring, ndn, suedring, date(2024, 9, 1),
                         basis="Beschluss des Vorstands vom 20. August 2024")  # fmt: skip
        # Their member companies.
        self._membership(m["baeckerei"], moabit, m["baeckerei"], date(2019, 5, 1),
                         basis="Aufnahmeantrag vom April 2019")  # fmt: skip
        self._membership(m["malerbetrieb"], suedring, m["malerbetrieb"], date(2022, 1, 1))
        leaving = self._membership(suedring, suedring, m["spedition"], date(2021, 6, 1))
        networks.end(
            CommandContext(m["spedition"].principal.actor),
            suedring.party_id,
            leaving,
            date(2025, 12, 31),
            "Betrieb an den Stadtrand verlegt; Mitgliedschaft zum Jahresende gekündigt.",
        )
        # The alliance of the social and solidarity economy and its members.
        buendnis = m["buendnis"]
        haus = self._membership(
            None,
            buendnis,
            m["nachbarschaftshaus"],
            date(2007, 1, 1),
            role="founding_member",
            basis="Gründungsliste 2006/2007",
        )
        networks.correct(
            CommandContext(self.admin.actor),
            buendnis.party_id,
            haus,
            date(2006, 11, 1),
            None,
            "Laut Gründungsprotokoll bereits seit November 2006 Mitglied.",
        )
        for handle, since in (("zirkus", date(2015, 3, 1)), ("stadtteilmuetter", date(2012, 6, 1)),
                              ("freiwilligenagentur", date(2018, 2, 1))):  # fmt: skip
            self._membership(m[handle], buendnis, m[handle], since)
