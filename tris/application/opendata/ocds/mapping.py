"""An agreement's history as OCDS 1.1 releases: one release per stored event (version).

The mapping (ADR 23): `ocid` = prefix + agreement id; each release is the whole agreement as
it stood after that event, tagged `contract` (proposals, revisions, signatures, conclusion,
notarisation), `contractAmendment` (amendments), `implementation` (deliveries) or
`contractTermination` (completed, terminated, withdrawn). Commitments are contract `items`
with a quantity and a UN/CEFACT unit where one fits; nothing is forced into `value`, as
cooperation in hours, days, space or goods is not money: only commitments counted in an
ISO 4217 currency are (a unit value of 1 in it, and the contract's `value`). Due dates and
deliveries are implementation milestones; signatures and notarisations are documents.
Contact persons never appear: parties are organisations with their public identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tris.application.views import moment_text
from tris.domain.agreement import Agreement, AgreementStatus
from tris.domain.market.money import ISO_4217
from tris.domain.signing import content_hash
from tris.domain.values import Commitment, Content

# UN/CEFACT Recommendation 20 codes of the units cooperation is counted in.
UNITS = {
    "hour": "HUR",
    "hours": "HUR",
    "stunde": "HUR",
    "stunden": "HUR",
    "h": "HUR",
    "day": "DAY",
    "days": "DAY",
    "tag": "DAY",
    "tage": "DAY",
    "week": "WEE",
    "weeks": "WEE",
    "month": "MON",
    "months": "MON",
    "item": "H87",
    "items": "H87",
    "piece": "H87",
    "pieces": "H87",
    "stück": "H87",
    "kg": "KGM",
    "kilogram": "KGM",
    "kilograms": "KGM",
    "m2": "MTK",
    "sqm": "MTK",
}
TAGS = {
    "AmendmentProposed": "contractAmendment",
    "AmendmentRejected": "contractAmendment",
    "AmendmentAdopted": "contractAmendment",
    "FulfilmentRecorded": "implementation",
    "FulfilmentConfirmed": "implementation",
    "FulfilmentDisputed": "implementation",
    "Completed": "contractTermination",
    "Terminated": "contractTermination",
    "Withdrawn": "contractTermination",
}
CONTRACT_STATUS = {
    AgreementStatus.PROPOSED: "pending",
    AgreementStatus.IN_FORCE: "active",
    AgreementStatus.COMPLETED: "terminated",
    AgreementStatus.TERMINATED: "terminated",
    AgreementStatus.WITHDRAWN: "cancelled",
}
AWARD_STATUS = {
    AgreementStatus.PROPOSED: "pending",
    AgreementStatus.IN_FORCE: "active",
    AgreementStatus.COMPLETED: "active",
    AgreementStatus.TERMINATED: "active",
    AgreementStatus.WITHDRAWN: "cancelled",
}
MILESTONE_STATUS = {"recorded": "scheduled", "confirmed": "met", "disputed": "notMet"}


@dataclass(frozen=True)
class PartyFacts:
    """What OCDS shows of a party: its name and public identifiers, never its contacts."""

    name: str
    identifiers: tuple[tuple[str, str], ...] = ()
    sector: str | None = None


@dataclass(frozen=True)
class Directory:
    """Where the mapping looks up what events name only by id."""

    ocid_prefix: str
    party: Callable[[str], PartyFacts]
    market_title: Callable[[str], str | None]


def ocid_of(prefix: str, agreement_id: str) -> str:
    """The agreement's Open Contracting ID."""
    return f"{prefix}-{agreement_id}"


def release_id(ocid: str, version: int) -> str:
    """The id of the release for one version (unique within its ocid)."""
    return f"{ocid}-{version:05d}"


def day_start(value: date) -> str:
    """A day as the OCDS date-time of its start (UTC)."""
    return f"{value.isoformat()}T00:00:00Z"


def number(value: Decimal) -> int | float:
    """A quantity as a JSON number (integral quantities stay integers)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class _Delivery:
    fulfilment_id: str
    commitment_id: str
    quantity: Decimal
    delivered_on: date
    note: str
    status: str = "recorded"
    reason: str | None = None


@dataclass
class _Fold:
    """What the releases need beyond the aggregate: when things happened, by version."""

    concluded_at: datetime | None = None
    rationales: dict[int, str] = field(default_factory=dict)
    amendments: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, _Delivery] = field(default_factory=dict)
    signed_at: dict[tuple[int, str], datetime] = field(default_factory=dict)
    notarised_at: dict[tuple[int, str], datetime] = field(default_factory=dict)


def releases(
    agreement_id: str, events: Iterable[Any], directory: Directory
) -> list[dict[str, Any]]:
    """Every release of the agreement, oldest first: the agreement after each of its events."""
    ocid = ocid_of(directory.ocid_prefix, agreement_id)
    fold = _Fold()
    aggregate: Agreement | None = None
    out: list[dict[str, Any]] = []
    for event in events:
        aggregate = event.mutate(aggregate)
        assert aggregate is not None
        kind = type(event).__name__
        version = aggregate.version
        _remember(fold, kind, event, ocid, version)
        out.append(_release(aggregate, kind, event, ocid, fold, directory))
    return out


def _remember(fold: _Fold, kind: str, event: Any, ocid: str, version: int) -> None:
    when = event.timestamp
    if kind in ("Revised", "AmendmentProposed"):
        fold.rationales[int(event.revision)] = str(event.rationale)
    elif kind == "Concluded":
        fold.concluded_at = when
    elif kind == "AmendmentAdopted":
        revision = int(event.revision)
        fold.amendments.append(
            {
                "id": f"amendment-{revision}",
                "date": moment_text(when),
                "rationale": fold.rationales.get(revision, ""),
                "description": f"Revision {revision} in force, signed by every party",
                "amendsReleaseID": release_id(ocid, version - 1),
                "releaseID": release_id(ocid, version),
            }
        )
    elif kind == "Signed":
        fold.signed_at[(int(event.revision), event.actor.party_id)] = when
    elif kind == "Notarised":
        fold.notarised_at[(int(event.revision), event.actor.party_id)] = when
    elif kind == "FulfilmentRecorded":
        fold.deliveries[event.fulfilment_id] = _Delivery(
            event.fulfilment_id,
            event.commitment_id,
            Decimal(event.quantity),
            event.delivered_on,
            event.note,
        )
    elif kind in ("FulfilmentConfirmed", "FulfilmentDisputed"):
        delivery = fold.deliveries.get(event.fulfilment_id)
        if delivery is not None:
            delivery.status = "confirmed" if kind == "FulfilmentConfirmed" else "disputed"
            delivery.reason = getattr(event, "reason", None)


def _release(
    agreement: Agreement,
    kind: str,
    event: Any,
    ocid: str,
    fold: _Fold,
    directory: Directory,
) -> dict[str, Any]:
    governing = agreement.current
    content = governing.content
    release: dict[str, Any] = {
        "ocid": ocid,
        "id": release_id(ocid, agreement.version),
        "date": moment_text(event.timestamp),
        "tag": [TAGS.get(kind, "contract")],
        "initiationType": "tender",
        "language": "de",
        "parties": _parties(agreement, content, directory),
        "awards": [
            {
                "id": agreement.agreement_id,
                "title": content.title,
                "status": AWARD_STATUS[agreement.status],
                "suppliers": [
                    {"id": p, "name": directory.party(p).name} for p in _debtors(content)
                ],
                **({"date": moment_text(fold.concluded_at)} if fold.concluded_at else {}),
            }
        ],
        "contracts": [_contract(agreement, content, fold, directory, event.timestamp)],
    }
    if agreement.origin is not None:
        title = directory.market_title(agreement.origin.market_id)
        release["relatedProcesses"] = [
            {
                "id": f"market-{agreement.origin.market_id}",
                "relationship": ["parent"],
                "title": title or "Market",
                "scheme": "x-tris-market",
                "identifier": agreement.origin.market_id,
            }
        ]
    return release


def _debtors(content: Content) -> list[str]:
    return list(dict.fromkeys(c.debtor for c in content.commitments))


def _parties(agreement: Agreement, content: Content, directory: Directory) -> list[dict[str, Any]]:
    debtors = set(_debtors(content))
    roles: dict[str, list[str]] = {}
    for party_id in agreement.parties:
        roles[party_id] = ["supplier"] if party_id in debtors else ["interestedParty"]
    if agreement.origin is not None:
        if agreement.origin.broker:
            roles.setdefault(agreement.origin.broker, []).append("broker")
        for notarisation in agreement.notarisations:
            roles.setdefault(notarisation.party_id, [])
            if "notary" not in roles[notarisation.party_id]:
                roles[notarisation.party_id].append("notary")
    parties = []
    for party_id, party_roles in roles.items():
        facts = directory.party(party_id)
        entry: dict[str, Any] = {"id": party_id, "name": facts.name, "roles": party_roles}
        if facts.identifiers:
            (scheme, value), *more = facts.identifiers
            entry["identifier"] = {"scheme": scheme, "id": value, "legalName": facts.name}
            if more:
                entry["additionalIdentifiers"] = [{"scheme": s, "id": i} for s, i in more]
        if facts.sector:
            entry["details"] = {"sector": facts.sector}
        parties.append(entry)
    return parties


def _currency(commitment: Commitment) -> str | None:
    """The ISO 4217 code a commitment of money is counted in (None: not money, or money
    named so loosely, `Euro`, `€`, that no code can be read from it)."""
    unit = commitment.unit.strip()
    return unit if unit in ISO_4217 else None


def _unit(commitment: Commitment) -> dict[str, Any]:
    currency = _currency(commitment)
    if currency is not None:
        # Money is counted in units of one: the item's quantity is the amount.
        return {"name": currency, "value": {"amount": 1, "currency": currency}}
    code = UNITS.get(commitment.unit.strip().casefold())
    if code:
        return {"scheme": "UNCEFACT", "id": code, "name": commitment.unit}
    return {"name": commitment.unit}


def _value(content: Content) -> dict[str, Any] | None:
    """The contract's value: only where commitments really are money, in one currency."""
    amounts: dict[str, Decimal] = {}
    for commitment in content.commitments:
        currency = _currency(commitment)
        if currency is not None:
            amounts[currency] = amounts.get(currency, Decimal(0)) + commitment.quantity
    if len(amounts) != 1:
        return None
    ((currency, amount),) = amounts.items()
    return {"amount": number(amount), "currency": currency}


def _contract(
    agreement: Agreement,
    content: Content,
    fold: _Fold,
    directory: Directory,
    now: datetime,
) -> dict[str, Any]:
    contract: dict[str, Any] = {
        "id": agreement.agreement_id,
        "awardID": agreement.agreement_id,
        "title": content.title,
        "description": f"{content.purpose}\n\n{content.terms.text}",
        "status": CONTRACT_STATUS[agreement.status],
        "items": [
            {
                "id": c.id,
                "description": c.description,
                "quantity": number(c.quantity),
                "unit": _unit(c),
                "classification": {
                    "scheme": "x-tris-commitment-kind",
                    "id": c.kind.value,
                    "description": c.kind.value,
                },
            }
            for c in content.commitments
        ],
    }
    value = _value(content)
    if value is not None:
        contract["value"] = value
    period = {}
    if content.terms.starts_on:
        period["startDate"] = day_start(content.terms.starts_on)
    if content.terms.ends_on:
        period["endDate"] = day_start(content.terms.ends_on)
    if period:
        contract["period"] = period
    if fold.concluded_at is not None:
        contract["dateSigned"] = moment_text(fold.concluded_at)
    if fold.amendments:
        contract["amendments"] = [dict(a) for a in fold.amendments]
    milestones = _milestones(agreement, content, fold, now)
    if milestones:
        contract["implementation"] = {"milestones": milestones}
    documents = _documents(agreement, fold, directory)
    if documents:
        contract["documents"] = documents
    return contract


def _milestones(
    agreement: Agreement, content: Content, fold: _Fold, now: datetime
) -> list[dict[str, Any]]:
    milestones: list[dict[str, Any]] = []
    in_force = agreement.in_force_revision is not None
    for commitment in content.commitments:
        if commitment.due_on is None:
            continue
        confirmed = sum(
            (
                d.quantity
                for d in fold.deliveries.values()
                if d.commitment_id == commitment.id and d.status == "confirmed"
            ),
            Decimal(0),
        )
        if in_force and confirmed >= commitment.quantity:
            status = "met"
        elif confirmed > 0:
            status = "partiallyMet"
        elif in_force and commitment.due_on < now.date():
            status = "notMet"
        else:
            status = "scheduled"
        milestones.append(
            {
                "id": f"due-{commitment.id}",
                "title": commitment.description,
                "type": "delivery",
                "dueDate": day_start(commitment.due_on),
                "status": status,
            }
        )
    for delivery in fold.deliveries.values():
        owed = content.commitment(delivery.commitment_id)
        unit = owed.unit if owed else ""
        described = f"{delivery.quantity} {unit} delivered".strip()
        if delivery.note:
            described += f": {delivery.note}"
        if delivery.reason:
            described += f" (disputed: {delivery.reason})"
        milestone: dict[str, Any] = {
            "id": f"fulfilment-{delivery.fulfilment_id}",
            "title": owed.description if owed else delivery.commitment_id,
            "type": "delivery",
            "description": described,
            "status": MILESTONE_STATUS[delivery.status],
        }
        if delivery.status == "confirmed":
            milestone["dateMet"] = day_start(delivery.delivered_on)
        milestones.append(milestone)
    return milestones


def _documents(agreement: Agreement, fold: _Fold, directory: Directory) -> list[dict[str, Any]]:
    documents = []
    for revision in agreement.revisions:
        digest = content_hash(revision.content)
        for record in revision.signatures.values():
            when = fold.signed_at.get((revision.number, record.party_id))
            documents.append(
                {
                    "id": f"signature-{revision.number}-{record.party_id}",
                    "documentType": "contractSigned",
                    "title": f"Signature of revision {revision.number} by "
                    f"{directory.party(record.party_id).name}",
                    "description": (
                        f"Ed25519 signature with key {record.key_id} over the signing payload "
                        f"of revision {revision.number} (content SHA-256 {digest}); it "
                        "verifies with the party's public key, and the agreement's verification "
                        "and evidence bundle check it with every other signature"
                    ),
                    "format": "application/json",
                    **({"datePublished": moment_text(when)} if when else {}),
                }
            )
    for notarisation in agreement.notarisations:
        when = fold.notarised_at.get((notarisation.revision, notarisation.party_id))
        documents.append(
            {
                "id": f"notarisation-{notarisation.revision}-{notarisation.party_id}",
                "documentType": "x-notarisation",
                "title": f"Notarisation of revision {notarisation.revision} by "
                f"{directory.party(notarisation.party_id).name}",
                "description": (
                    f"A notary of the market countersigned revision {notarisation.revision} "
                    f"with key {notarisation.key_id}"
                ),
                "format": "application/json",
                **({"datePublished": moment_text(when)} if when else {}),
            }
        )
    return documents


def facts_of(view: Mapping[str, Any]) -> PartyFacts:
    """A party's OCDS facts from its public view (which never holds contacts)."""
    return PartyFacts(
        name=str(view.get("name") or view.get("id")),
        identifiers=tuple((str(i["scheme"]), str(i["id"])) for i in view.get("identifiers", [])),
        sector=view.get("sector"),
    )
