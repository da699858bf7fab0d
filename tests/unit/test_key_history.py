"""Which key belonged to which party when it signed, read from key events alone."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tris.domain.proofs.keys import PARTY_TOPIC, read_key_history, signer_key_problems
from tris.domain.proofs.record import AgreementRecord, RecordedSignature
from tris.domain.signing import key_fingerprint, key_registration

REGISTERED = f"{PARTY_TOPIC}.SigningKeyRegistered"
REVOKED = f"{PARTY_TOPIC}.SigningKeyRevoked"
KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KEY_ID = key_fingerprint(PUBLIC)


def registration(party_id: str, *, proof: bool = True) -> dict[str, Any]:
    public, signature = key_registration(KEY, party_id)
    state: dict[str, Any] = {
        "key_id": KEY_ID,
        "public_key": {"_type_": "bytes_b64", "_data_": public},
    }
    if proof:
        state["proof"] = {"_type_": "bytes_b64", "_data_": signature}
        state["proof_public_key"] = public
    return state


def signed_by(party_id: str, version: int = 3) -> AgreementRecord:
    record = AgreementRecord("agreement")
    record.signatures.append(RecordedSignature(1, party_id, KEY_ID, "sig", version))
    return record


def test_a_key_registered_with_a_valid_proof_is_proven_and_anchors_a_later_signature() -> None:
    history = read_key_history([("p", 4, REGISTERED, registration("p"))])
    assert history.problems == []
    assert history.of_party("p") == [
        {
            "key_id": KEY_ID,
            "public_key": base64.b64encode(PUBLIC).decode(),
            "revoked": False,
            "proven": True,
        }
    ]
    assert signer_key_problems(signed_by("p"), {3: 9}, history) == []


def test_a_key_without_proof_or_with_another_partys_proof_is_unproven() -> None:
    legacy = read_key_history([("p", 1, REGISTERED, registration("p", proof=False))])
    assert legacy.of_party("p")[0]["proven"] is False
    borrowed = read_key_history([("p", 1, REGISTERED, registration("q"))])
    assert borrowed.of_party("p")[0]["proven"] is False


def test_a_signature_is_refused_when_its_key_was_not_the_signers_at_the_time() -> None:
    late = read_key_history([("p", 12, REGISTERED, registration("p"))])
    assert (
        "not registered by that party before"
        in signer_key_problems(signed_by("p"), {3: 9}, late)[0]
    )
    revoked = read_key_history(
        [("p", 1, REGISTERED, registration("p")), ("p", 5, REVOKED, {"key_id": KEY_ID})]
    )
    assert revoked.of_party("p")[0]["revoked"] is True
    assert "revoked before it signed" in signer_key_problems(signed_by("p"), {3: 9}, revoked)[0]
    # Revoked after it signed: the signature stands.
    assert signer_key_problems(signed_by("p"), {3: 4}, revoked) == []
    # The issue's attack: p2 registers p4's key (before keys had owners) and copies its
    # signature; the key is p4's, who registered it first.
    copied = read_key_history(
        [("p4", 1, REGISTERED, registration("p4")), ("p2", 2, REGISTERED, registration("p2"))]
    )
    assert (
        "registered first by another party"
        in signer_key_problems(signed_by("p2"), {3: 9}, copied)[0]
    )
    assert signer_key_problems(signed_by("p4"), {3: 9}, copied) == []


def test_unreadable_or_foreign_key_events_are_reported() -> None:
    history = read_key_history(
        [
            ("p", 1, f"{PARTY_TOPIC}.Registered", {}),
            ("p", 2, REGISTERED, {"key_id": "0" * 16, "public_key": "AAAA"}),
            ("p", 3, REGISTERED, {**registration("p"), "key_id": "0" * 16}),
            ("p", 4, REVOKED, {"key_id": KEY_ID}),
            ("p", 5, REGISTERED, {"public_key": {"_data_": 5}}),
        ]
    )
    assert len(history.problems) == 5 and history.keys == []
