"""The demo scenario: Berlin partners of the three sectors and five agreements between them.

Everything is done through the use cases, acting as the parties with their own partner
tokens and real Ed25519 keys, so the record is exactly what a real client would leave.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from tris.application.access import Principal, Role
from tris.application.parties import new_contact
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.domain.agreement import Evidence
from tris.domain.party import Party, PartyDetails
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms


@dataclass(frozen=True)
class DemoParty:
    """A demo party and the secrets a person needs to act as it (shown by `serve --demo`)."""

    handle: str
    party_id: str
    name: str
    sector: str
    token: str
    key_id: str
    private_key: str
    """Base64 of the raw 32-byte Ed25519 private key."""


@dataclass(frozen=True)
class DemoAgreement:
    """One agreement of the scenario."""

    handle: str
    agreement_id: str
    title: str


@dataclass(frozen=True)
class DemoData:
    """What the demo created: the operator's token, the parties and the agreements."""

    admin_token: str
    parties: tuple[DemoParty, ...]
    agreements: tuple[DemoAgreement, ...]

    def party(self, handle: str) -> DemoParty:
        """The demo party with this handle (`bezirksamt`, `senat`, …)."""
        return next(p for p in self.parties if p.handle == handle)

    def agreement(self, handle: str) -> DemoAgreement:
        """The demo agreement with this handle (`marktplatz`, `netzwerke`, …)."""
        return next(a for a in self.agreements if a.handle == handle)


@dataclass(frozen=True)
class _PartySpec:
    handle: str
    name: str
    sector: Sector
    region: str
    description: str
    website: str
    contact: str
    email: str


PARTIES = (
    _PartySpec(
        "bezirksamt",
        "Bezirksamt Mitte von Berlin",
        Sector.STATE,
        "Berlin-Mitte",
        "Bezirksverwaltung für Mitte, Moabit, Tiergarten und Wedding. Die Wirtschaftsförderung "
        "begleitet die lokalen Unternehmensnetzwerke und Kooperationen mit gemeinnützigen "
        "Trägern im Sozialraum.",
        "https://bezirksamt-mitte.example.org",
        "Sabine Krüger",
        "sabine.krueger@bezirksamt-mitte.example.org",
    ),
    _PartySpec(
        "senat",
        "Senatsverwaltung für Wirtschaft, Energie und Betriebe",
        Sector.STATE,
        "Berlin",
        "Landesverwaltung für Wirtschaftspolitik; Ansprechpartnerin für eine landesweite "
        "Strategie zur Stärkung der bezirklichen Wirtschaftsnetzwerke und für die Förderpolitik "
        "zugunsten der Sozialen und Solidarischen Ökonomie.",
        "https://wirtschaft.berlin.example.org",
        "Dr. Jonas Weidemann",
        "jonas.weidemann@wirtschaft.berlin.example.org",
    ),
    _PartySpec(
        "netzwerk",
        "Unternehmensnetzwerk Moabit e.V.",
        Sector.BUSINESS,
        "Berlin-Moabit",
        "Ehrenamtlich getragenes Netzwerk von rund 80 Unternehmen aus Handwerk, Handel und "
        "Dienstleistung in Moabit; setzt sich für ein „Netzwerk der Netzwerke“ der Berliner "
        "Wirtschaftsnetzwerke ein.",
        "https://unternehmensnetzwerk-moabit.example.org",
        "Murat Demir",
        "m.demir@unternehmensnetzwerk-moabit.example.org",
    ),
    _PartySpec(
        "baeckerei",
        "Kiezbäckerei Schulz GmbH",
        Sector.BUSINESS,
        "Berlin-Moabit",
        "Familiengeführte Handwerksbäckerei in der Turmstraße mit drei Filialen und sechs "
        "Auszubildenden; Mitglied im Unternehmensnetzwerk Moabit.",
        "https://kiezbaeckerei-schulz.example.org",
        "Heike Schulz",
        "heike.schulz@kiezbaeckerei-schulz.example.org",
    ),
    _PartySpec(
        "buendnis",
        "Bündnis für Soziale und Solidarische Ökonomie Berlin",
        Sector.CIVIL_SOCIETY,
        "Berlin",
        "Seit 2006 bestehender Zusammenschluss von Organisationen der Sozialen und Solidarischen "
        "Ökonomie in Berlin. Ziele: Kooperation und wechselseitige Unterstützung, Sichtbarmachung "
        "und Stärkung des Sektors, bessere Rahmenbedingungen im Dialog mit dem Senat.",
        "https://ssoe-berlin.example.org",
        "Dr. Petra Lindner",
        "p.lindner@ssoe-berlin.example.org",
    ),
    _PartySpec(
        "nachbarschaftshaus",
        "Nachbarschaftshaus Moabit e.V.",
        Sector.CIVIL_SOCIETY,
        "Berlin-Moabit",
        "Gemeinnütziger Träger der Nachbarschaftsarbeit: offene Treffpunkte, Jugendwerkstätten, "
        "Beratung und Kiezfeste für alle Generationen.",
        "https://nachbarschaftshaus-moabit.example.org",
        "Tobias Brandt",
        "tobias.brandt@nachbarschaftshaus-moabit.example.org",
    ),
)

MARKTPLATZ_TERMS = (
    "Vereinbart nach den Regeln des Marktplatzes für Gute Geschäfte: getauscht werden Zeit, "
    "Kompetenz, Logistik und Sachleistungen; Geld wird weder gezahlt noch gespendet. Jede "
    "Leistung wird vom empfangenden Partner bestätigt."
)


@dataclass(frozen=True)
class _Member:
    """A registered demo party as the scenario acts through it."""

    spec: _PartySpec
    party_id: str
    principal: Principal
    token: str
    key: Ed25519PrivateKey
    key_id: str

    def ctx(self) -> CommandContext:
        return CommandContext(self.principal.actor)


def demo_data_exists(services: Services) -> bool:
    """True when the database already holds a party (the demo belongs in an empty one)."""
    topic = f"{Party.__module__}:{Party.Registered.__qualname__}"
    return bool(services.store.log.notifications(None, 1, topics=[topic]))


def load_demo(services: Services) -> DemoData:
    """Register the demo parties and play the five agreements through the use cases."""
    return _Scenario(services).play()


class _Scenario:
    """The scenario's steps; each method is one story, told in the order it happened."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.agreements = services.agreements
        self.today = services.agreements.today()
        issued = services.tokens.issue(Role.ADMIN, label="demo operator")
        self.admin_token = issued.token
        self.admin = Principal(issued.token_id, Role.ADMIN)
        self.members = {spec.handle: self._register(spec) for spec in PARTIES}

    def play(self) -> DemoData:
        spende = self._spende_declined()
        marktplatz = self._marktplatz()
        self.agreements.withdraw(
            self.members["baeckerei"].ctx(),
            spende.agreement_id,
            "Ersetzt durch die Sachleistung Backwaren im „Marktplatz für Gute Geschäfte Moabit“.",
        )
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
                private_key=_private_b64(member.key),
            )
            for member in self.members.values()
        )
        return DemoData(self.admin_token, parties, agreements)

    # ---------------------------------------------------------------- stories

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
        terms = Terms(MARKTPLATZ_TERMS, self._day(-60), self._day(120))
        workshop = "Backwerkstatt: Auszubildende der Kiezbäckerei backen mit Jugendlichen aus "
        workshop += "dem Nachbarschaftshaus an {} Nachmittagen"
        base = [
            _c(baeckerei, haus, "time", "12", "hours", workshop.format("sechs")),
            _c(
                netzwerk,
                haus,
                "expertise",
                "8",
                "hours",
                "Pro-bono-Beratung zu Buchhaltung und Ehrenamtsmanagement durch "
                "Mitgliedsunternehmen des Netzwerks",
            ),
            _c(
                haus,
                baeckerei,
                "time",
                "4",
                "hours",
                "Einblick in andere Lebenswelten: die Auszubildenden gestalten einen "
                "Nachmittag im offenen Jugendtreff mit",
            ),
            _c(
                bezirk,
                None,
                "space",
                "1",
                "days",
                "Saal im Rathaus Tiergarten für den öffentlichen Marktplatz-Abend",
            ),
        ]
        first = _draft(title, purpose, parties, terms, base)
        agreement_id = self.agreements.propose(haus.ctx(), first).body["id"]

        revised = [
            _c(baeckerei, haus, "time", "16", "hours", workshop.format("acht"), "C1"),
            *(_keep(item, f"C{n}") for n, item in enumerate(base[1:], start=2)),
            _c(
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
            _draft(title, purpose, parties, terms, revised),
            "Nach Rücksprache mit der Ausbildungsleitung: Backwerkstatt auf acht Nachmittage "
            "(16 Stunden) erweitert; statt einer Geldspende liefert die Bäckerei Backwaren "
            "für das Nachbarschaftsfest.",
        )
        self._sign_all(agreement_id, 2, parties)
        self._settle(
            baeckerei, haus, agreement_id, "C1", "8", -40, "Vier Nachmittage, 9 Jugendliche"
        )
        self._settle(
            bezirk, netzwerk, agreement_id, "C4", "1", -35, "Marktplatz-Abend: 23 Unternehmen"
        )

        amended = [
            *(_keep(item, f"C{n}") for n, item in enumerate(revised, start=1)),
            _c(
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
            _draft(title, purpose, parties, terms, amended),
            "Das Nachbarschaftsfest zieht in den Ottopark um; für Bänke, Zelte und Backwaren "
            "stellt das Unternehmensnetzwerk einen Transporter mit Fahrer.",
        )
        self._sign_all(agreement_id, 3, parties)
        receipt = b"Lieferschein 2025-117: 150 Backwaren"
        self._settle(baeckerei, haus, agreement_id, "C1", "8", -20, "Vier weitere Nachmittage")
        delivered = self._deliver(
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
        self._settle(netzwerk, haus, agreement_id, "C2", "8", -15, "Zwei Beratungstermine")
        self._settle(haus, baeckerei, agreement_id, "C3", "4", -12, "Nachmittag im Jugendtreff")
        self._settle(netzwerk, bezirk, agreement_id, "C6", "1", -6, "Transporter am Festtag")
        return DemoAgreement("marktplatz", agreement_id, title)

    def _netzwerke_terminated(self) -> DemoAgreement:
        """Bisectoral: in force, one delivery, then terminated with a reason."""
        netzwerk, senat = self.members["netzwerk"], self.members["senat"]
        title = "Netzwerk der Netzwerke: Erfahrungsaustausch der Wirtschaftsnetzwerke"
        draft = _draft(
            title,
            "Die bezirklichen Wirtschaftsnetzwerke tauschen Informationen und Erfahrungen aus, "
            "verzahnen ihre überwiegend ehrenamtliche Arbeit und erarbeiten mit dem Senat eine "
            "gemeinsame Strategie sowie Übersichten zu Flächenpotenzialen.",
            (netzwerk, senat),
            Terms(
                "Vier Austauschtreffen im Jahr; Ergebnisse werden allen Netzwerken zugänglich "
                "gemacht.",
                self._day(-50),
                self._day(300),
            ),
            [
                _c(
                    netzwerk,
                    senat,
                    "time",
                    "24",
                    "hours",
                    "Organisation und Moderation von vier Austauschtreffen der Netzwerke",
                ),
                _c(
                    senat,
                    netzwerk,
                    "expertise",
                    "40",
                    "hours",
                    "Fachliche Begleitung einer Übersicht zu Gewerbeflächenpotenzialen",
                ),
            ],
        )
        agreement_id = self.agreements.propose(netzwerk.ctx(), draft).body["id"]
        self._sign_all(agreement_id, 1, (netzwerk, senat))
        self._settle(netzwerk, senat, agreement_id, "C1", "6", -30, "Erstes Austauschtreffen")
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
        draft = _draft(
            title,
            "Eine trisektoral getragene Anlauf- und Beratungsstelle, die Verwaltung, Unternehmen "
            "und Zivilgesellschaft berät, Kooperationen vermittelt und verlässliche Absprachen "
            "zwischen den Sektoren transparent dokumentiert.",
            (bezirk, buendnis, netzwerk),
            Terms(
                "Pilotphase über sechs Monate; danach gemeinsame Auswertung.",
                self._day(-45),
                self._day(135),
            ),
            [
                _c(bezirk, None, "space", "6", "months", "Büroraum im Rathaus Tiergarten"),
                _c(
                    buendnis,
                    None,
                    "expertise",
                    "20",
                    "hours",
                    "Wöchentliche Sprechstunde zu Gründung und Finanzierung sozialer Unternehmen",
                    due_on=self._day(-7),
                ),
                _c(
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
        self._sign_all(agreement_id, 1, (bezirk, buendnis, netzwerk))
        self._settle(
            netzwerk, buendnis, agreement_id, "C3", "2", -40, "Umzug und Möblierung erledigt"
        )
        disputed = self._deliver(buendnis, agreement_id, "C2", "10", -10, "Zehn Sprechstunden")
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
        draft = _draft(
            title,
            "Informationen und Analysen zu Merkmalen, Umfang, Struktur, Leistungen und "
            "ungenutzten Potenzialen der sozialen und solidarischen Unternehmen in Berlin, als "
            "Grundlage für bessere Rahmenbedingungen und eine geeignete Förderpolitik.",
            (buendnis, senat, haus),
            Terms("Ergebnisse werden als offener Bericht veröffentlicht.", None, self._day(240)),
            [
                _c(
                    buendnis,
                    None,
                    "expertise",
                    "80",
                    "hours",
                    "Erhebung und Analyse des Sektors; Veröffentlichung als offener Bericht",
                ),
                _c(
                    senat,
                    buendnis,
                    "expertise",
                    "16",
                    "hours",
                    "Fachgespräche zu Rahmenbedingungen und Förderpolitik",
                ),
                _c(haus, buendnis, "space", "2", "days", "Räume für zwei Werkstattgespräche"),
            ],
        )
        agreement_id = self.agreements.propose(buendnis.ctx(), draft).body["id"]
        self._sign(buendnis, agreement_id, 1)
        return DemoAgreement("sichtbarkeit", agreement_id, title)

    def _spende_declined(self) -> DemoAgreement:
        """A money donation, declined (money is taboo); withdrawn later by its proposer."""
        baeckerei, haus = self.members["baeckerei"], self.members["nachbarschaftshaus"]
        title = "Geldspende für das Nachbarschaftsfest"
        draft = _draft(
            title,
            "Die Kiezbäckerei unterstützt das Nachbarschaftsfest mit einer Spende.",
            (baeckerei, haus),
            Terms("Einmalige Überweisung vor dem Fest.", None, None),
            [_c(baeckerei, haus, "funding", "500", "EUR", "Spende für das Nachbarschaftsfest")],
        )
        agreement_id = self.agreements.propose(baeckerei.ctx(), draft).body["id"]
        self.agreements.decline(
            haus.ctx(),
            agreement_id,
            "Beim Marktplatz für Gute Geschäfte ist Geld tabu: wir wünschen uns Zeit, "
            "Know-how und Sachleistungen statt einer Spende.",
        )
        return DemoAgreement("spende", agreement_id, title)

    # ---------------------------------------------------------------- helpers

    def _register(self, spec: _PartySpec) -> _Member:
        details = PartyDetails(
            name=spec.name,
            sector=spec.sector,
            region=spec.region,
            description=spec.description,
            website=spec.website,
        )
        contacts = (new_contact(spec.contact, spec.email),)
        outcome = self.services.parties.register(
            CommandContext(self.admin.actor), details, contacts
        )
        party_id = outcome.body["id"]
        issued = self.services.tokens.issue(Role.PARTNER, party_id, label=f"demo {spec.handle}")
        principal = Principal(issued.token_id, Role.PARTNER, party_id)
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        registered = self.services.parties.register_signing_key(
            CommandContext(principal.actor), party_id, base64.b64encode(public).decode()
        )
        return _Member(spec, party_id, principal, issued.token, key, registered.body["key_id"])

    def _sign(self, member: _Member, agreement_id: str, revision: int) -> None:
        payload = self.agreements.signing_payload(member.principal, agreement_id, revision)
        signature = base64.b64encode(member.key.sign(payload)).decode()
        self.agreements.sign(member.ctx(), agreement_id, revision, member.key_id, signature)

    def _sign_all(self, agreement_id: str, revision: int, members: tuple[_Member, ...]) -> None:
        for member in members:
            self._sign(member, agreement_id, revision)

    def _deliver(
        self,
        debtor: _Member,
        agreement_id: str,
        commitment_id: str,
        quantity: str,
        days: int,
        note: str,
        evidence: Evidence | None = None,
    ) -> str:
        outcome = self.agreements.record_fulfilment(
            debtor.ctx(), agreement_id, commitment_id, quantity, self._day(days), note, evidence
        )
        fulfilment_id: str = outcome.body["id"]
        return fulfilment_id

    def _settle(
        self,
        debtor: _Member,
        confirmer: _Member,
        agreement_id: str,
        commitment_id: str,
        quantity: str,
        days: int,
        note: str,
    ) -> None:
        """A delivery recorded by its debtor and confirmed by another party."""
        fulfilment_id = self._deliver(debtor, agreement_id, commitment_id, quantity, days, note)
        self.agreements.confirm_fulfilment(confirmer.ctx(), agreement_id, fulfilment_id)

    def _day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)


def _c(
    debtor: _Member,
    beneficiary: _Member | None,
    kind: str,
    quantity: str,
    unit: str,
    description: str,
    commitment_id: str | None = None,
    *,
    due_on: date | None = None,
) -> CommitmentDraft:
    return CommitmentDraft(
        debtor=debtor.party_id,
        beneficiary=beneficiary.party_id if beneficiary else None,
        kind=CommitmentKind(kind),
        quantity=quantity,
        unit=unit,
        description=description,
        due_on=due_on,
        id=commitment_id,
    )


def _keep(item: CommitmentDraft, commitment_id: str) -> CommitmentDraft:
    """The same commitment in a later revision, naming the id TRIS gave it."""
    return CommitmentDraft(
        debtor=item.debtor,
        beneficiary=item.beneficiary,
        kind=item.kind,
        quantity=item.quantity,
        unit=item.unit,
        description=item.description,
        due_on=item.due_on,
        id=commitment_id,
    )


def _draft(
    title: str,
    purpose: str,
    parties: tuple[_Member, ...],
    terms: Terms,
    commitments: list[CommitmentDraft],
) -> ContentDraft:
    return ContentDraft(
        title=title,
        purpose=purpose,
        parties=tuple(p.party_id for p in parties),
        terms=terms,
        commitments=tuple(commitments),
    )


def _private_b64(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()
