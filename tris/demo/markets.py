"""The demo's markets: a past Marktplatz in Neukölln, evaluated, and an action day still open.

The Marktplatz follows the seeds' method: offers and needs collected beforehand, a broker
(Makler) matching them, each deal signed by both sides and countersigned by the notary,
the closing gong, and two weeks later the organisers' follow-up of what was carried out.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tris.application.markets import DealRequest
from tris.application.store import CommandContext
from tris.demo.cast import Cast, Member, PartySpec, commitment
from tris.demo.results import DemoMarket
from tris.domain.market.market import MarketFormat, MarketPlan
from tris.domain.market.posting import PostingDraft, PostingSide
from tris.domain.values import Sector, Terms

BERLIN = ZoneInfo("Europe/Berlin")

MARKET_PARTIES = (
    PartySpec(
        "bezirksamt_nk",
        "Bezirksamt Neukölln von Berlin",
        Sector.STATE,
        "Berlin-Neukölln",
        "Bezirksverwaltung Neukölln; die Wirtschaftsförderung organisiert mit der "
        "Freiwilligenagentur den „Marktplatz für Gute Geschäfte Neukölln“.",
        "https://bezirksamt-neukoelln.example.org",
        "Aylin Kaya",
        "aylin.kaya@bezirksamt-neukoelln.example.org",
    ),
    PartySpec(
        "freiwilligenagentur",
        "Freiwilligenagentur Neukölln e.V.",
        Sector.CIVIL_SOCIETY,
        "Berlin-Neukölln",
        "Vermittelt Engagement zwischen Unternehmen und gemeinnützigen Organisationen; stellt "
        "die Maklerinnen und Makler des Marktplatzes.",
        "https://freiwilligenagentur-neukoelln.example.org",
        "Jana Wolff",
        "jana.wolff@freiwilligenagentur-neukoelln.example.org",
    ),
    PartySpec(
        "ihk",
        "Industrie- und Handelskammer zu Berlin",
        Sector.BUSINESS,
        "Berlin",
        "Vertritt die Berliner Wirtschaft; ihre Vertreterin bezeugt als Notarin die "
        "Vereinbarungen des Marktplatzes.",
        "https://ihk-berlin.example.org",
        "Dr. Karin Albers",
        "karin.albers@ihk-berlin.example.org",
    ),
    PartySpec(
        "malerbetrieb",
        "Malerbetrieb Yilmaz GmbH",
        Sector.BUSINESS,
        "Berlin-Neukölln",
        "Maler- und Lackierbetrieb in der Sonnenallee mit zwölf Beschäftigten und drei "
        "Auszubildenden.",
        "https://maler-yilmaz.example.org",
        "Kemal Yilmaz",
        "k.yilmaz@maler-yilmaz.example.org",
    ),
    PartySpec(
        "spedition",
        "Spedition Kowalski KG",
        Sector.BUSINESS,
        "Berlin-Neukölln",
        "Regionale Spedition mit Lager am Neuköllner Schifffahrtskanal.",
        "https://spedition-kowalski.example.org",
        "Marta Kowalski",
        "m.kowalski@spedition-kowalski.example.org",
    ),
    PartySpec(
        "zirkus",
        "Kinder- und Jugendzirkus Rixdorf e.V.",
        Sector.CIVIL_SOCIETY,
        "Berlin-Neukölln",
        "Zirkuspädagogik für Kinder und Jugendliche aus dem Kiez, im eigenen Zelt am Körnerpark.",
        "https://zirkus-rixdorf.example.org",
        "Lena Hoffmann",
        "lena.hoffmann@zirkus-rixdorf.example.org",
    ),
    PartySpec(
        "stadtteilmuetter",
        "Stadtteilmütter Neukölln e.V.",
        Sector.CIVIL_SOCIETY,
        "Berlin-Neukölln",
        "Mütter mit Migrationsgeschichte begleiten Familien im Kiez zu Bildung, Gesundheit "
        "und Erziehung.",
        "https://stadtteilmuetter-neukoelln.example.org",
        "Fatma Öztürk",
        "f.oeztuerk@stadtteilmuetter-neukoelln.example.org",
    ),
)

MARKET_TERMS = (
    "Vereinbart auf dem Marktplatz für Gute Geschäfte Neukölln: getauscht werden Zeit, "
    "Kompetenz, Logistik und Sachleistungen, kein Geld. Die Notarin hat die Vereinbarung "
    "bezeugt; die Organisatoren fragen nach zwei Wochen nach, was umgesetzt wurde."
)


class MarketStories(Cast):
    """The markets of the demo, played through the market use cases."""

    def market_members(self) -> dict[str, Member]:
        """Register the market's cast (once)."""
        for spec in MARKET_PARTIES:
            if spec.handle not in self.members:
                self.members[spec.handle] = self.register(spec)
        return self.members

    def _moment(self, days: int, hour: int) -> datetime:
        return datetime.combine(self.day(days), time(hour), tzinfo=BERLIN)

    def _post(self, who: Member, market_id: str, side: PostingSide, *draft: str) -> str:
        kind, quantity, unit, description, corner = draft
        outcome = self.services.markets.post(
            who.ctx(), market_id, side, PostingDraft(kind, quantity, unit, description, corner)
        )
        return str(outcome.body["id"])

    def _notarise(self, notary: Member, agreement_id: str) -> None:
        payload = self.agreements.signing_payload(notary.principal, agreement_id, 1)
        signature = base64.b64encode(notary.key.sign(payload)).decode()
        self.services.markets.notarise(notary.ctx(), agreement_id, notary.key_id, signature)

    def marktplatz_neukoelln(self) -> DemoMarket:
        """A past Marktplatz: offers and needs, three deals, signatures, notarisations,
        fulfilments, and one agreement the organisers still have to follow up."""
        m = self.market_members()
        bezirk, makler, notarin = m["bezirksamt_nk"], m["freiwilligenagentur"], m["ihk"]
        maler, spedition = m["malerbetrieb"], m["spedition"]
        zirkus, muetter = m["zirkus"], m["stadtteilmuetter"]
        markets = self.services.markets
        plan = MarketPlan(
            title="Marktplatz für Gute Geschäfte Neukölln 2026",
            format=MarketFormat.MARKETPLACE,
            region="Berlin-Neukölln",
            venue="Rathaus Neukölln, BVV-Saal, Karl-Marx-Straße 83",
            starts_at=self._moment(-30, 16),
            ends_at=self._moment(-30, 18),
            organisers=(bezirk.party_id,),
            brokers=(makler.party_id,),
            notaries=(notarin.party_id,),
        )
        market_id = markets.schedule(CommandContext(self.admin.actor), plan).body["id"]
        for member in (maler, spedition, zirkus, muetter, bezirk):
            markets.admit(bezirk.ctx(), market_id, member.party_id)
        # The "drei Wünsche": offers and needs collected before the market day.
        painting = self._post(
            maler, market_id, PostingSide.OFFER, "time", "16", "hours",
            "Zwei Gesellen und ein Azubi streichen zwei Tage lang", "Hands-on",
        )  # fmt: skip
        van = self._post(
            spedition, market_id, PostingSide.OFFER, "logistics", "1", "days",
            "Transporter mit Fahrerin für einen Tag", "Logistik",
        )  # fmt: skip
        self._post(
            zirkus, market_id, PostingSide.OFFER, "expertise", "3", "hours",
            "Jonglier- und Teamworkshop für Auszubildende", "Know-how",
        )  # fmt: skip
        colour = self._post(
            zirkus, market_id, PostingSide.NEED, "time", "16", "hours",
            "Das Winterquartier des Zirkus braucht einen neuen Anstrich", "Hands-on",
        )  # fmt: skip
        moving = self._post(
            muetter, market_id, PostingSide.NEED, "logistics", "1", "days",
            "Umzug der Spielzeug- und Kleiderkammer in neue Räume", "Logistik",
        )  # fmt: skip
        self._post(
            muetter, market_id, PostingSide.NEED, "expertise", "4", "hours",
            "Beratung zur Gestaltung eines Flyers in fünf Sprachen", "Know-how",
        )  # fmt: skip
        markets.open(bezirk.ctx(), market_id)

        anstrich = markets.make_deal(
            makler.ctx(),
            market_id,
            DealRequest(title="Neuer Anstrich für das Winterquartier", offer_id=painting,
                        need_id=colour, terms=Terms(MARKET_TERMS), publication="public"),
        ).body["agreement_id"]  # fmt: skip
        workshop = markets.make_deal(
            zirkus.ctx(),
            market_id,
            DealRequest(
                title="Zirkusworkshop für die Azubis des Malerbetriebs",
                purpose="Die Auszubildenden des Malerbetriebs lernen im Zirkuszelt "
                "Jonglieren und Vertrauen im Team.",
                parties=(zirkus.party_id, maler.party_id),
                terms=Terms(MARKET_TERMS),
                commitments=(
                    commitment(zirkus, maler, "expertise", "3", "hours",
                               "Jonglier- und Teamworkshop im Zirkuszelt"),
                ),
            ),
        ).body["agreement_id"]  # fmt: skip
        umzug = markets.make_deal(
            makler.ctx(),
            market_id,
            DealRequest(
                title="Umzug der Kleiderkammer",
                need_id=moving,
                offer_id=van,
                purpose="Die Spedition bringt die Kleiderkammer der Stadtteilmütter in die "
                "neuen Räume im Gemeinschaftshaus, die der Bezirk zur Verfügung stellt.",
                parties=(spedition.party_id, muetter.party_id, bezirk.party_id),
                terms=Terms(MARKET_TERMS),
                publication="public",
                commitments=(
                    commitment(spedition, muetter, "logistics", "1", "days",
                               "Transporter mit Fahrerin für den Umzug"),
                    commitment(bezirk, muetter, "space", "1", "items",
                               "Raum im Gemeinschaftshaus Gropiusstadt für die Kleiderkammer"),
                ),
            ),
        ).body["agreement_id"]  # fmt: skip
        self.sign_all(anstrich, 1, (maler, zirkus))
        self.sign_all(workshop, 1, (zirkus, maler))
        self.sign_all(umzug, 1, (spedition, muetter, bezirk))
        self._notarise(notarin, anstrich)
        self._notarise(notarin, umzug)
        markets.close(bezirk.ctx(), market_id)

        # What was carried out after the market day.
        self.settle(maler, zirkus, anstrich, "C1", "16", -20, "Winterquartier gestrichen")
        self.settle(spedition, muetter, umzug, "C1", "1", -25, "Umzug an einem Samstag")
        self.settle(bezirk, muetter, umzug, "C2", "1", -24, "Schlüssel übergeben")
        # The workshop has not happened yet: the organisers' follow-up list names it.
        return DemoMarket("marktplatz_neukoelln", market_id, plan.title)

    def aktionstag_open(self) -> DemoMarket:
        """An action day that is open now: offers and needs posted, no deal yet."""
        m = self.market_members()
        bezirk, makler, notarin = m["bezirksamt_nk"], m["freiwilligenagentur"], m["ihk"]
        markets = self.services.markets
        now = datetime.now(UTC).astimezone(BERLIN).replace(minute=0, second=0, microsecond=0)
        plan = MarketPlan(
            title="Aktionstag Engagement Neukölln",
            format=MarketFormat.ACTION_DAY,
            region="Berlin-Neukölln",
            venue="Körnerpark, Orangerie",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=5),
            organisers=(bezirk.party_id,),
            brokers=(makler.party_id,),
            notaries=(notarin.party_id,),
        )
        market_id = markets.schedule(CommandContext(self.admin.actor), plan).body["id"]
        for handle in ("malerbetrieb", "zirkus", "stadtteilmuetter", "spedition"):
            markets.admit(bezirk.ctx(), market_id, m[handle].party_id)
        markets.open(bezirk.ctx(), market_id)
        self._post(
            m["spedition"], market_id, PostingSide.OFFER, "logistics", "2", "days",
            "Lagerfläche und Transporter für Sammelaktionen", "Logistik",
        )  # fmt: skip
        self._post(
            m["stadtteilmuetter"], market_id, PostingSide.NEED, "in_kind", "30", "items",
            "Schulranzen für Erstklässler", "Sachleistungen",
        )  # fmt: skip
        return DemoMarket("aktionstag", market_id, plan.title)
