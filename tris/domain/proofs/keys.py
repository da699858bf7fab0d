"""Which key belonged to which party, and when: read from the parties' stored key events.

An evidence bundle carries every `SigningKeyRegistered` and `SigningKeyRevoked` event of
its parties that the checkpoint covers, each under an inclusion proof. Their leaf indices
order them in the one global log, together with the agreement's own events, so a verifier
who trusts nothing but the server key can tell for each signature that its key was
registered by the signing party before it signed, and not revoked by then.
Pure computation: the server builds the bundle's key lists with it and `tris verify`
recomputes them with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tris.domain.errors import InvalidSigningKeyError
from tris.domain.proofs.record import AgreementRecord, event_type, unwrap
from tris.domain.proofs.signed import strict_base64
from tris.domain.signing import (
    decode_base64,
    key_fingerprint,
    key_proof_payload,
    signature_is_valid,
)

PARTY_TOPIC = "tris.domain.party:Party"
KEY_TOPICS = frozenset({f"{PARTY_TOPIC}.SigningKeyRegistered", f"{PARTY_TOPIC}.SigningKeyRevoked"})


@dataclass
class KeyRecord:
    """One registered key as its party's events say it, with the leaves that changed it."""

    party_id: str
    key_id: str
    public_key: str
    proven: bool
    registered_at: int
    revoked_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The key as a bundle lists it under its party."""
        return {
            "key_id": self.key_id,
            "public_key": self.public_key,
            "revoked": self.revoked_at is not None,
            "proven": self.proven,
        }


@dataclass
class KeyHistory:
    """Every key registered by the parties, in log order, and what could not be read."""

    keys: list[KeyRecord]
    problems: list[str]

    def of_party(self, party_id: str) -> list[dict[str, Any]]:
        """The keys of one party as a bundle lists them (revoked as of the checkpoint)."""
        return [k.to_dict() for k in self.keys if k.party_id == party_id]

    def find(self, party_id: str, key_id: str) -> KeyRecord | None:
        """The party's registration of that key id (None when it registered none)."""
        return next((k for k in self.keys if (k.party_id, k.key_id) == (party_id, key_id)), None)

    def first_owner(self, public_key: str) -> str | None:
        """The party that registered this public key first."""
        return next((k.party_id for k in self.keys if k.public_key == public_key), None)


def _proven(party_id: str, raw: bytes, state: Mapping[str, Any]) -> bool:
    """True when the registration carries a proof of possession that verifies again."""
    proof = strict_base64(unwrap(state.get("proof")))
    sent = state.get("proof_public_key")
    if proof is None or not isinstance(sent, str):
        return False
    try:
        if decode_base64(sent, what="public_key") != raw:
            return False
    except InvalidSigningKeyError:
        return False
    return signature_is_valid(raw, proof, key_proof_payload(party_id, sent))


def read_key_history(events: Iterable[tuple[str, int, str, Any]]) -> KeyHistory:
    """Read (party_id, leaf_index, topic, parsed state) of key events, in log order."""
    history = KeyHistory([], [])
    for party_id, leaf, topic, state in sorted(events, key=lambda e: e[1]):
        kind = event_type(topic)
        try:
            if topic not in KEY_TOPICS:
                history.problems.append(f"leaf {leaf} is no key event ({kind})")
            elif kind == "SigningKeyRegistered":
                text = unwrap(state["public_key"])
                raw = strict_base64(text)
                if raw is None or len(raw) != 32:
                    history.problems.append(f"leaf {leaf} registers no Ed25519 key")
                    continue
                key_id = key_fingerprint(raw)
                if str(state["key_id"]) != key_id:
                    history.problems.append(f"leaf {leaf} names key {state['key_id']} wrongly")
                    continue
                history.keys.append(
                    KeyRecord(party_id, key_id, text, _proven(party_id, raw, state), leaf)
                )
            else:
                record = history.find(party_id, str(state["key_id"]))
                if record is None or record.revoked_at is not None:
                    history.problems.append(f"leaf {leaf} revokes no registered key")
                else:
                    record.revoked_at = leaf
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            history.problems.append(f"leaf {leaf} ({kind}) cannot be read: {exc!r}")
    return history


def signer_key_problems(
    record: AgreementRecord, leaves: Mapping[int, int], history: KeyHistory
) -> list[str]:
    """For each recorded signature (its event at leaf `leaves[version]`), what is wrong
    with its key: not registered by the signing party before it signed, registered first
    by another party, or revoked by then. Empty when every signer's key is anchored."""
    problems = []
    signed = [("signature", s) for s in record.signatures]
    notarised = [("notarisation", n) for n in record.notarisations]
    for what, sig in [*signed, *notarised]:
        who = f"revision {sig.revision}'s {what} by {sig.party_id}"
        signed_at = leaves.get(sig.version)
        key = history.find(sig.party_id, sig.key_id)
        if signed_at is None:
            problems.append(f"{who} has no leaf in the log")
        elif key is None or key.registered_at > signed_at:
            problems.append(f"{who}: key {sig.key_id} was not registered by that party before")
        elif history.first_owner(key.public_key) != sig.party_id:
            problems.append(f"{who}: key {sig.key_id} was registered first by another party")
        elif key.revoked_at is not None and key.revoked_at < signed_at:
            problems.append(f"{who}: key {sig.key_id} was revoked before it signed")
    return problems
