"""Plain, JSON-ready views of aggregates: what the application hands to interfaces."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from tris.domain.agreement import Agreement, Fulfilment, Revision
from tris.domain.party import Party
from tris.domain.signing import signing_payload
from tris.domain.values import Content, Publication


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def moment_text(value: datetime) -> str:
    """A moment as the API and its OCDS releases write it: RFC 3339 in UTC with a `Z` (the
    form the models dump a UTC moment in)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def content_view(agreement: Agreement, content: Content, today: date) -> dict[str, Any]:
    """A revision's content, each commitment with its status and confirmed quantity."""
    data = content.to_dict()
    data.setdefault("publication", Publication.RESTRICTED.value)
    for item, commitment in zip(data["commitments"], content.commitments, strict=True):
        item["status"] = agreement.commitment_status(commitment, today).value
        item["confirmed_quantity"] = str(agreement.confirmed_quantity(commitment.id))
    return data


def fulfilment_view(fulfilment: Fulfilment) -> dict[str, Any]:
    """One recorded delivery and its settlement."""
    return {
        "id": fulfilment.id,
        "commitment_id": fulfilment.commitment_id,
        "debtor": fulfilment.debtor,
        "quantity": str(fulfilment.quantity),
        "delivered_on": fulfilment.delivered_on.isoformat(),
        "note": fulfilment.note,
        "evidence": (
            {"url": fulfilment.evidence.url, "sha256": fulfilment.evidence.sha256}
            if fulfilment.evidence
            else None
        ),
        "status": fulfilment.status.value,
        "recorded_by": fulfilment.recorded_by.party_id,
        "settled_by": fulfilment.settled_by.party_id if fulfilment.settled_by else None,
        "reason": fulfilment.reason,
    }


def agreement_view(
    agreement: Agreement, today: date, fulfilments: Iterable[Fulfilment]
) -> dict[str, Any]:
    """The view of an agreement, as the v1 contract names its fields.

    `fulfilments` is the agreement's whole ledger (the aggregate keeps only open ones).
    """
    latest = agreement.latest
    governing = agreement.current
    party_ids = list(dict.fromkeys(governing.content.parties + latest.content.parties))
    sectors = {**governing.party_sectors, **latest.party_sectors}
    return {
        "id": agreement.agreement_id,
        "status": agreement.status.value,
        "version": agreement.version,
        "sector_mix": agreement.sector_mix.value,
        "proposer": agreement.proposer,
        "parties": [
            {
                "party_id": party_id,
                "sector": sectors[party_id].value,
                "signed": party_id in latest.signatures,
                "declined": party_id in latest.declined,
                "in_latest_revision": party_id in latest.content.parties,
            }
            for party_id in party_ids
        ],
        "revision": latest.number,
        "in_force_revision": agreement.in_force_revision,
        "pending_amendment": agreement.pending_amendment,
        "content": content_view(agreement, governing.content, today),
        "fulfilments": [fulfilment_view(f) for f in fulfilments],
        "termination_reason": agreement.termination_reason,
        "origin": agreement.origin.to_dict() if agreement.origin else None,
        "notarised_by": [
            {"party_id": n.party_id, "key_id": n.key_id, "revision": n.revision}
            for n in agreement.notarisations
        ],
        "published": agreement.published,
        "created_at": moment_text(agreement.created_on),
        "updated_at": moment_text(agreement.modified_on),
    }


def revision_view(agreement: Agreement, revision: Revision) -> dict[str, Any]:
    """One revision: its content, hash, signing payload, signatures and declinations."""
    payload = signing_payload(agreement.agreement_id, revision.number, revision.content)
    return {
        "number": revision.number,
        "kind": revision.kind.value,
        "state": revision.state.value,
        "author": revision.author.party_id,
        "rationale": revision.rationale,
        "content": revision.content.to_dict(),
        "content_hash": revision.content_hash,
        "sector_mix": revision.sector_mix.value,
        "signing_payload": payload.decode("utf-8"),
        "signatures": [
            {
                "party_id": record.party_id,
                "key_id": record.key_id,
                "signature": _b64(record.signature),
                "token_id": record.actor.token_id,
            }
            for record in revision.signatures.values()
        ],
        "declinations": [
            {"party_id": party_id, "reason": reason}
            for party_id, reason in revision.declined.items()
        ],
    }


def party_view(party: Party, *, with_contacts: bool) -> dict[str, Any]:
    """A party's public details, keys, and (for those allowed) its contact persons."""
    details = party.details
    view: dict[str, Any] = {
        "id": party.party_id,
        "name": details.name,
        "sector": details.sector.value,
        "region": details.region,
        "description": details.description,
        "website": details.website,
        "network": details.network,
        "identifiers": [{"scheme": i.scheme, "id": i.id} for i in details.identifiers],
        "active": party.active,
        "signing_keys": [
            {
                "key_id": key.key_id,
                "public_key": _b64(key.public_key),
                "revoked": key.revoked,
                "proven": key.proven,
            }
            for key in party.keys.values()
        ],
        "created_at": moment_text(party.created_on),
        "version": party.version,
    }
    if with_contacts:
        view["contacts"] = [contact.to_dict() for contact in party.contacts]
    return view
