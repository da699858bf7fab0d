"""An agreement's revisions and signatures as its stored events say them: pure computation.

Both the verification endpoint and the offline verifier read revisions from the stored
JSON (not from upcast objects), so what was signed is checked against what was stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tris.domain.proofs.signed import Check, strict_base64
from tris.domain.signing import canonical_json, key_fingerprint, sha256_hex, signature_is_valid

AGREEMENT_TOPIC = "tris.domain.agreement:Agreement"
CONTENT_EVENTS = ("Proposed", "ProposedAtMarket", "Revised", "AmendmentProposed")
FIRST_CONTENT_EVENTS = ("Proposed", "ProposedAtMarket")


def event_type(topic: str) -> str:
    """The event's class name: `Agreement.Signed` → `Signed`."""
    return topic.rpartition(".")[2]


def is_agreement_topic(topic: str) -> bool:
    """True for the topic of an Agreement event."""
    return topic.startswith(AGREEMENT_TOPIC + ".")


def unwrap(value: Any) -> Any:
    """A value the library stored as {"_type_": name, "_data_": data} → data."""
    if isinstance(value, dict) and set(value) == {"_type_", "_data_"}:
        return value["_data_"]
    return value


def payload_bytes(agreement_id: str, revision: int, content: Mapping[str, Any]) -> bytes:
    """The signing payload of a revision: JCS of {agreement_id, revision, content}."""
    return canonical_json({"agreement_id": agreement_id, "revision": revision, "content": content})


def content_digest(content: Mapping[str, Any]) -> str:
    """The content hash of a revision: SHA-256 over the JCS of its content."""
    return sha256_hex(canonical_json(content))


@dataclass(frozen=True)
class RecordedRevision:
    """A revision as the event that created it records it."""

    number: int
    content: dict[str, Any]
    party_sectors: dict[str, str]
    version: int


@dataclass(frozen=True)
class RecordedSignature:
    """A signature as its Signed event records it."""

    revision: int
    party_id: str
    key_id: str
    signature: str
    version: int


@dataclass
class AgreementRecord:
    """The revisions and signatures read from one agreement's stored events."""

    agreement_id: str
    revisions: dict[int, RecordedRevision] = field(default_factory=dict)
    signatures: list[RecordedSignature] = field(default_factory=list)
    # Market notaries' countersignatures of a revision in force (same shape as signatures).
    notarisations: list[RecordedSignature] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def party_ids(self) -> list[str]:
        """Every party of any revision, in order of first appearance."""
        seen: dict[str, None] = {}
        for revision in self.revisions.values():
            for party_id in revision.content.get("parties", []):
                seen.setdefault(str(party_id), None)
        return list(seen)

    @property
    def notary_ids(self) -> list[str]:
        """Every notary that countersigned, in order of first notarisation."""
        return list(dict.fromkeys(n.party_id for n in self.notarisations))

    @property
    def signer_ids(self) -> list[str]:
        """The parties and the notaries: everyone whose keys the record's signatures need."""
        return list(dict.fromkeys([*self.party_ids, *self.notary_ids]))


def read_record(agreement_id: str, events: Iterable[tuple[int, str, Any]]) -> AgreementRecord:
    """Read revisions and signatures from (version, topic, parsed state) of stored events."""
    record = AgreementRecord(agreement_id)
    for version, topic, state in events:
        kind = event_type(topic)
        try:
            if kind in CONTENT_EVENTS:
                number = 1 if kind in FIRST_CONTENT_EVENTS else int(state["revision"])
                sectors = {str(k): unwrap(v) for k, v in state["party_sectors"].items()}
                record.revisions[number] = RecordedRevision(
                    number, unwrap(state["content"]), sectors, version
                )
            elif kind in ("Signed", "Notarised"):
                target = record.signatures if kind == "Signed" else record.notarisations
                target.append(
                    RecordedSignature(
                        revision=int(state["revision"]),
                        party_id=str(unwrap(state["actor"])["party_id"]),
                        key_id=str(state["key_id"]),
                        signature=str(unwrap(state["signature"])),
                        version=version,
                    )
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            record.problems.append(f"version {version} ({kind}) cannot be read: {exc!r}")
    return record


def signature_checks(
    record: AgreementRecord, public_keys: Mapping[tuple[str, str], bytes]
) -> list[Check]:
    """One check per recorded signature and notarisation: valid for its revision's payload
    and its party's key."""
    checks = []
    signed = [("signature", s) for s in record.signatures]
    notarised = [("notarisation", n) for n in record.notarisations]
    for what, sig in [*signed, *notarised]:
        name = f"{what} of revision {sig.revision} by party {sig.party_id}"
        revision = record.revisions.get(sig.revision)
        key = public_keys.get((sig.party_id, sig.key_id))
        raw = strict_base64(sig.signature)
        if revision is None:
            checks.append(Check(name, False, f"revision {sig.revision} is not recorded"))
        elif key is None:
            checks.append(Check(name, False, f"party has no key {sig.key_id}"))
        elif key_fingerprint(key) != sig.key_id:
            checks.append(Check(name, False, f"key {sig.key_id} is not that public key's id"))
        elif raw is None:
            checks.append(Check(name, False, "the signature is not base64"))
        elif not signature_is_valid(
            key, raw, payload_bytes(record.agreement_id, sig.revision, revision.content)
        ):
            checks.append(
                Check(name, False, f"does not verify under key {sig.key_id} for the payload")
            )
        else:
            checks.append(Check(name, True, f"valid Ed25519 signature with key {sig.key_id}"))
    return checks
