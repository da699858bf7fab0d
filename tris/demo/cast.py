"""The demo's cast: Berlin partners of the three sectors, and what they do through the use cases.

Every step acts as a party with its own partner token and a real Ed25519 key, so the record
is exactly what a real client would leave.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tris.application.access import Principal, Role
from tris.application.parties import new_contact
from tris.application.store import CommandContext
from tris.bootstrap import Services
from tris.domain.agreement import Evidence
from tris.domain.party import Identifier, PartyDetails
from tris.domain.signing import key_registration
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms


@dataclass(frozen=True)
class PartySpec:
    """Who a demo party is: handle, name, sector, region, description, website, contact."""

    handle: str
    name: str
    sector: Sector
    region: str
    description: str
    website: str
    contact: str
    email: str
    network: bool = False
    identifiers: tuple[Identifier, ...] = ()


PARTIES = (
    PartySpec(
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
    PartySpec(
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
    PartySpec(
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
        network=True,
        identifiers=(Identifier("DE-VR", "VR 28911 B"),),
    ),
    PartySpec(
        "baeckerei",
        "Kiezbäckerei Schulz GmbH",
        Sector.BUSINESS,
        "Berlin-Moabit",
        "Familiengeführte Handwerksbäckerei in der Turmstraße mit drei Filialen und sechs "
        "Auszubildenden; Mitglied im Unternehmensnetzwerk Moabit.",
        "https://kiezbaeckerei-schulz.example.org",
        "Heike Schulz",
        "heike.schulz@kiezbaeckerei-schulz.example.org",
        identifiers=(Identifier("DE-CR", "HRB 104455 B"),),
    ),
    PartySpec(
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
        network=True,
    ),
    PartySpec(
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


@dataclass(frozen=True)
class Member:
    """A registered demo party as the scenario acts through it."""

    spec: PartySpec
    party_id: str
    principal: Principal
    token: str
    key: Ed25519PrivateKey
    key_id: str

    def ctx(self) -> CommandContext:
        """The command context of this member acting through its partner token."""
        return CommandContext(self.principal.actor)


class Cast:
    """The registered demo parties and the steps they take (sign, deliver, confirm)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.agreements = services.agreements
        self.today = services.agreements.today()
        issued = services.tokens.issue(Role.ADMIN, label="demo operator")
        self.admin_token = issued.token
        self.admin = Principal(issued.token_id, Role.ADMIN)
        self.auditor_token = services.tokens.issue(Role.AUDITOR, label="demo auditor").token
        self.members = {spec.handle: self.register(spec) for spec in PARTIES}

    def register(self, spec: PartySpec) -> Member:
        """Register a party, issue its partner token and register a fresh signing key."""
        details = PartyDetails(
            name=spec.name,
            sector=spec.sector,
            region=spec.region,
            description=spec.description,
            website=spec.website,
            network=spec.network,
            identifiers=spec.identifiers,
        )
        contacts = (new_contact(spec.contact, spec.email),)
        outcome = self.services.parties.register(
            CommandContext(self.admin.actor), details, contacts
        )
        party_id = outcome.body["id"]
        issued = self.services.tokens.issue(Role.PARTNER, party_id, label=f"demo {spec.handle}")
        principal = Principal(issued.token_id, Role.PARTNER, party_id)
        key = Ed25519PrivateKey.generate()
        public_key, proof = key_registration(key, party_id)
        registered = self.services.parties.register_signing_key(
            CommandContext(principal.actor), party_id, public_key, proof
        )
        return Member(spec, party_id, principal, issued.token, key, registered.body["key_id"])

    def sign(self, member: Member, agreement_id: str, revision: int) -> None:
        """Sign a revision with the member's own key, over the payload TRIS serves."""
        payload = self.agreements.signing_payload(member.principal, agreement_id, revision)
        signature = base64.b64encode(member.key.sign(payload)).decode()
        self.agreements.sign(member.ctx(), agreement_id, revision, member.key_id, signature)

    def sign_all(self, agreement_id: str, revision: int, members: tuple[Member, ...]) -> None:
        """Every member signs the revision."""
        for member in members:
            self.sign(member, agreement_id, revision)

    def deliver(
        self,
        debtor: Member,
        agreement_id: str,
        commitment_id: str,
        quantity: str,
        days: int,
        note: str,
        evidence: Evidence | None = None,
    ) -> str:
        """The debtor records a delivery `days` from today; its fulfilment id."""
        outcome = self.agreements.record_fulfilment(
            debtor.ctx(), agreement_id, commitment_id, quantity, self.day(days), note, evidence
        )
        fulfilment_id: str = outcome.body["id"]
        return fulfilment_id

    def settle(
        self,
        debtor: Member,
        confirmer: Member,
        agreement_id: str,
        commitment_id: str,
        quantity: str,
        days: int,
        note: str,
    ) -> None:
        """A delivery recorded by its debtor and confirmed by another party."""
        fulfilment_id = self.deliver(debtor, agreement_id, commitment_id, quantity, days, note)
        self.agreements.confirm_fulfilment(confirmer.ctx(), agreement_id, fulfilment_id)

    def day(self, offset: int) -> date:
        """Today plus `offset` days."""
        return self.today + timedelta(days=offset)


def commitment(
    debtor: Member,
    beneficiary: Member | None,
    kind: str,
    quantity: str,
    unit: str,
    description: str,
    commitment_id: str | None = None,
    *,
    due_on: date | None = None,
) -> CommitmentDraft:
    """A commitment draft between two members (beneficiary None: the public)."""
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


def keep(item: CommitmentDraft, commitment_id: str) -> CommitmentDraft:
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


def content_draft(
    title: str,
    purpose: str,
    parties: tuple[Member, ...],
    terms: Terms,
    commitments: list[CommitmentDraft],
    publication: str | None = None,
) -> ContentDraft:
    """An agreement content draft between the given members (`public`: published once in
    force; None leaves the field out, as content written before it existed)."""
    return ContentDraft(
        title=title,
        purpose=purpose,
        parties=tuple(p.party_id for p in parties),
        terms=terms,
        commitments=tuple(commitments),
        publication=publication,
    )


def private_b64(key: Ed25519PrivateKey) -> str:
    """The raw private key in base64, as the welcome text shows it."""
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()
