"""The demo's five stories: a Marktplatz deal, a terminated network agreement, a disputed
delivery, a proposal still open and a declined donation, told in the order they happened."""

from __future__ import annotations

import hashlib

from tris.application.store import CommandContext
from tris.demo.cast import (
    commitment,
    content_draft,
    keep,
    private_b64,
)
from tris.demo.networks import NetworkStories
from tris.demo.results import DemoAgreement, DemoData, DemoParty
from tris.domain.agreement import Evidence
from tris.domain.values import Terms

MARKTPLATZ_TERMS = (
    "Vereinbart nach den Regeln des Marktplatzes für Gute Geschäfte: getauscht werden Zeit, "
    "Kompetenz, Logistik und Sachleistungen; Geld wird weder gezahlt noch gespendet. Jede "
    "Leistung wird vom empfangenden Partner bestätigt."
)


class BerlinStories(NetworkStories):
    """The scenario's steps; each method is one story, told in the order it happened."""

    def play(self) -> DemoData:
        """Tell every story; what a person needs to try the demo."""
        spende = self._spende_declined()
        marktplatz = self._marktplatz()
        self.agreements.withdraw(
            self.members["baeckerei"].ctx(),
            spende.agreement_id,
            "Ersetzt durch die Sachleistung Backwaren im „Marktplatz für Gute Geschäfte Moabit“.",
        )
        markets = (self.marktplatz_neukoelln(), self.aktionstag_open())
        self.networks_of_networks()
        self._contact_erased()
        agreements = (
            marktplatz,
            self._netzwerke_terminated(),
            self._haus_der_kooperation_disputed(),
            self._sichtbarkeit_proposed(),
            spende,
        )
        parties = tuple(
            DemoParty(
                handle=member.spec.handle,
                party_id=member.party_id,
                name=member.spec.name,
                sector=member.spec.sector.value,
                token=member.token,
                key_id=member.key_id,
                private_key=private_b64(member.key),
            )
            for member in self.members.values()
        )
        return DemoData(self.admin_token, parties, agreements, markets, self.auditor_token)

    # ---------------------------------------------------------------- stories

    def _contact_erased(self) -> None:
        """The network's contact person left and asked for erasure (GDPR Art. 17): the key
        of their sealed data is destroyed; the events stay, verifiable, without them."""
        netzwerk = self.members["netzwerk"]
        party = self.services.parties.get(self.admin, netzwerk.party_id)
        ctx = CommandContext(self.admin.actor)
        self.services.parties.erase_personal_data(ctx, party["contacts"][0]["id"])

    def _marktplatz(self) -> DemoAgreement:
        """Trisectoral: proposed, revised, signed, partly fulfilled, amended, completed."""
        haus, baeckerei = self.members["nachbarschaftshaus"], self.members["baeckerei"]
        netzwerk, bezirk = self.members["netzwerk"], self.members["bezirksamt"]
        parties = (haus, baeckerei, netzwerk, bezirk)
        title = "Marktplatz für Gute Geschäfte Moabit"
        purpose = (
            "Unternehmen und Gemeinnützige aus Moabit handeln Kooperationsprojekte aus, bei "
            "denen Angebot und Nachfrage den Tausch bestimmen: persönlicher Einsatz, "
            "Fachwissen, Logistik und Sachleistungen. Erste Projekte sind eine Backwerkstatt "
            "für Jugendliche und das Nachbarschaftsfest im Kiez."
        )
        terms = Terms(MARKTPLATZ_TERMS, self.day(-60), self.day(120))
        workshop = "Backwerkstatt: Auszubildende der Kiezbäckerei backen mit Jugendlichen aus "
        workshop += "dem Nachbarschaftshaus an {} Nachmittagen"
        base = [
            commitment(baeckerei, haus, "time", "12", "hours", workshop.format("sechs")),
            commitment(
                netzwerk,
                haus,
                "expertise",
                "8",
                "hours",
                "Pro-bono-Beratung zu Buchhaltung und Ehrenamtsmanagement durch "
                "Mitgliedsunternehmen des Netzwerks",
            ),
            commitment(
                haus,
                baeckerei,
                "time",
                "4",
                "hours",
                "Einblick in andere Lebenswelten: die Auszubildenden gestalten einen "
                "Nachmittag im offenen Jugendtreff mit",
            ),
            commitment(
                bezirk,
                None,
                "space",
                "1",
                "days",
                "Saal im Rathaus Tiergarten für den öffentlichen Marktplatz-Abend",
            ),
        ]
        first = content_draft(title, purpose, parties, terms, base)
        agreement_id = self.agreements.propose(haus.ctx(), first).body["id"]

        revised = [
            commitment(baeckerei, haus, "time", "16", "hours", workshop.format("acht"), "C1"),
            *(keep(item, f"C{n}") for n, item in enumerate(base[1:], start=2)),
            commitment(
                baeckerei,
                haus,
                "in_kind",
                "150",
                "items",
                "Brote und Brötchen für das Nachbarschaftsfest",
            ),
        ]
        self.agreements.revise(
            baeckerei.ctx(),
            agreement_id,
            content_draft(title, purpose, parties, terms, revised, "public"),
            "Nach Rücksprache mit der Ausbildungsleitung: Backwerkstatt auf acht Nachmittage "
            "(16 Stunden) erweitert; statt einer Geldspende liefert die Bäckerei Backwaren "
            "für das Nachbarschaftsfest. Alle Parteien stimmen der Veröffentlichung zu.",
        )
        self.sign_all(agreement_id, 2, parties)
        self.settle(
            baeckerei, haus, agreement_id, "C1", "8", -40, "Vier Nachmittage, 9 Jugendliche"
        )
        self.settle(
            bezirk, netzwerk, agreement_id, "C4", "1", -35, "Marktplatz-Abend: 23 Unternehmen"
        )

        amended = [
            *(keep(item, f"C{n}") for n, item in enumerate(revised, start=1)),
            commitment(
                netzwerk,
                haus,
                "logistics",
                "1",
                "days",
                "Transporter mit Fahrer für Auf- und Abbau des Nachbarschaftsfests",
            ),
        ]
        self.agreements.propose_amendment(
            haus.ctx(),
            agreement_id,
            content_draft(title, purpose, parties, terms, amended, "public"),
            "Das Nachbarschaftsfest zieht in den Ottopark um; für Bänke, Zelte und Backwaren "
            "stellt das Unternehmensnetzwerk einen Transporter mit Fahrer.",
        )
        self.sign_all(agreement_id, 3, parties)
        receipt = b"Lieferschein 2025-117: 150 Backwaren"
        self.settle(baeckerei, haus, agreement_id, "C1", "8", -20, "Vier weitere Nachmittage")
        delivered = self.deliver(
            baeckerei,
            agreement_id,
            "C5",
            "150",
            -6,
            "Backwaren zum Fest geliefert",
            Evidence(
                "https://kiezbaeckerei-schulz.example.org/lieferscheine/2025-117.pdf",
                hashlib.sha256(receipt).hexdigest(),
            ),
        )
        self.agreements.confirm_fulfilment(haus.ctx(), agreement_id, delivered)
        self.settle(netzwerk, haus, agreement_id, "C2", "8", -15, "Zwei Beratungstermine")
        self.settle(haus, baeckerei, agreement_id, "C3", "4", -12, "Nachmittag im Jugendtreff")
        self.settle(netzwerk, bezirk, agreement_id, "C6", "1", -6, "Transporter am Festtag")
        return DemoAgreement("marktplatz", agreement_id, title)

    def _netzwerke_terminated(self) -> DemoAgreement:
        """Bisectoral: in force, one delivery, then terminated with a reason."""
        netzwerk, senat = self.members["netzwerk"], self.members["senat"]
        title = "Netzwerk der Netzwerke: Erfahrungsaustausch der Wirtschaftsnetzwerke"
        draft = content_draft(
            title,
            "Die bezirklichen Wirtschaftsnetzwerke tauschen Informationen und Erfahrungen aus, "
            "verzahnen ihre überwiegend ehrenamtliche Arbeit und erarbeiten mit dem Senat eine "
            "gemeinsame Strategie sowie Übersichten zu Flächenpotenzialen.",
            (netzwerk, senat),
            Terms(
                "Vier Austauschtreffen im Jahr; Ergebnisse werden allen Netzwerken zugänglich "
                "gemacht.",
                self.day(-50),
                self.day(300),
            ),
            [
                commitment(
                    netzwerk,
                    senat,
                    "time",
                    "24",
                    "hours",
                    "Organisation und Moderation von vier Austauschtreffen der Netzwerke",
                ),
                commitment(
                    senat,
                    netzwerk,
                    "expertise",
                    "40",
                    "hours",
                    "Fachliche Begleitung einer Übersicht zu Gewerbeflächenpotenzialen",
                ),
            ],
            "public",
        )
        agreement_id = self.agreements.propose(netzwerk.ctx(), draft).body["id"]
        self.sign_all(agreement_id, 1, (netzwerk, senat))
        self.settle(netzwerk, senat, agreement_id, "C1", "6", -30, "Erstes Austauschtreffen")
        self.agreements.terminate(
            senat.ctx(),
            agreement_id,
            "Die Aufgaben gehen in die landesweite Interessenvertretung der "
            "Wirtschaftsnetzwerke über, die der Senat mit allen Bezirken vereinbart hat.",
        )
        return DemoAgreement("netzwerke", agreement_id, title)

    def _haus_der_kooperation_disputed(self) -> DemoAgreement:
        """Trisectoral, in force, with one confirmed and one disputed delivery."""
        bezirk, buendnis, netzwerk = (
            self.members["bezirksamt"],
            self.members["buendnis"],
            self.members["netzwerk"],
        )
        title = "Haus der Kooperation Moabit"
        draft = content_draft(
            title,
            "Eine trisektoral getragene Anlauf- und Beratungsstelle, die Verwaltung, Unternehmen "
            "und Zivilgesellschaft berät, Kooperationen vermittelt und verlässliche Absprachen "
            "zwischen den Sektoren transparent dokumentiert.",
            (bezirk, buendnis, netzwerk),
            Terms(
                "Pilotphase über sechs Monate; danach gemeinsame Auswertung.",
                self.day(-45),
                self.day(135),
            ),
            [
                commitment(bezirk, None, "space", "6", "months", "Büroraum im Rathaus Tiergarten"),
                commitment(
                    buendnis,
                    None,
                    "expertise",
                    "20",
                    "hours",
                    "Wöchentliche Sprechstunde zu Gründung und Finanzierung sozialer Unternehmen",
                    due_on=self.day(-7),
                ),
                commitment(
                    netzwerk,
                    buendnis,
                    "logistics",
                    "2",
                    "days",
                    "Umzug und Möblierung der Beratungsstelle durch Mitgliedsbetriebe",
                ),
            ],
        )
        agreement_id = self.agreements.propose(bezirk.ctx(), draft).body["id"]
        self.sign_all(agreement_id, 1, (bezirk, buendnis, netzwerk))
        self.settle(
            netzwerk, buendnis, agreement_id, "C3", "2", -40, "Umzug und Möblierung erledigt"
        )
        disputed = self.deliver(buendnis, agreement_id, "C2", "10", -10, "Zehn Sprechstunden")
        self.agreements.dispute_fulfilment(
            bezirk.ctx(),
            agreement_id,
            disputed,
            "Laut Raumbuchung fanden nur sechs Sprechstunden statt; bitte Teilnahmelisten "
            "als Nachweis nachreichen.",
        )
        return DemoAgreement("haus", agreement_id, title)

    def _sichtbarkeit_proposed(self) -> DemoAgreement:
        """A proposal signed by its proposer only, waiting for the other two parties."""
        buendnis, senat, haus = (
            self.members["buendnis"],
            self.members["senat"],
            self.members["nachbarschaftshaus"],
        )
        title = "Die Soziale und Solidarische Ökonomie in Berlin sichtbar machen"
        draft = content_draft(
            title,
            "Informationen und Analysen zu Merkmalen, Umfang, Struktur, Leistungen und "
            "ungenutzten Potenzialen der sozialen und solidarischen Unternehmen in Berlin, als "
            "Grundlage für bessere Rahmenbedingungen und eine geeignete Förderpolitik.",
            (buendnis, senat, haus),
            Terms("Ergebnisse werden als offener Bericht veröffentlicht.", None, self.day(240)),
            [
                commitment(
                    buendnis,
                    None,
                    "expertise",
                    "80",
                    "hours",
                    "Erhebung und Analyse des Sektors; Veröffentlichung als offener Bericht",
                ),
                commitment(
                    senat,
                    buendnis,
                    "expertise",
                    "16",
                    "hours",
                    "Fachgespräche zu Rahmenbedingungen und Förderpolitik",
                ),
                commitment(
                    haus, buendnis, "space", "2", "days", "Räume für zwei Werkstattgespräche"
                ),
            ],
            "public",
        )
        agreement_id = self.agreements.propose(buendnis.ctx(), draft).body["id"]
        self.sign(buendnis, agreement_id, 1)
        return DemoAgreement("sichtbarkeit", agreement_id, title)

    def _spende_declined(self) -> DemoAgreement:
        """A money donation, declined (money is taboo); withdrawn later by its proposer."""
        baeckerei, haus = self.members["baeckerei"], self.members["nachbarschaftshaus"]
        title = "Geldspende für das Nachbarschaftsfest"
        draft = content_draft(
            title,
            "Die Kiezbäckerei unterstützt das Nachbarschaftsfest mit einer Spende.",
            (baeckerei, haus),
            Terms("Einmalige Überweisung vor dem Fest.", None, None),
            [
                commitment(
                    baeckerei, haus, "funding", "500", "EUR", "Spende für das Nachbarschaftsfest"
                )
            ],
        )
        agreement_id = self.agreements.propose(baeckerei.ctx(), draft).body["id"]
        self.agreements.decline(
            haus.ctx(),
            agreement_id,
            "Beim Marktplatz für Gute Geschäfte ist Geld tabu: wir wünschen uns Zeit, "
            "Know-how und Sachleistungen statt einer Spende.",
        )
        return DemoAgreement("spende", agreement_id, title)
