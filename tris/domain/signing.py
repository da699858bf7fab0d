"""Canonical JSON (RFC 8785), signing payloads and Ed25519 checks: pure computation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tris.domain.errors import InvalidKeyProofError, InvalidSigningKeyError
from tris.domain.values import Content

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


SAFE_INTEGER = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """Serialise a JSON value canonically per RFC 8785 (JCS)."""
    if _plain(value):
        # For these values JCS is exactly sorted, compact JSON with non-ASCII text kept as
        # UTF-8: ASCII member names sort alike by code point and by UTF-16 unit, and the
        # escapes of strings are the same. orjson writes that form (a twentieth of the
        # standard library's time: every event's hash and every signature pass here);
        # what it refuses — nesting deeper than 255, a lone surrogate — goes on below.
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate cannot be encoded: JCS refuses it
    return bytes(rfc8785.dumps(value))


def _plain(value: Any) -> bool:
    """True for JSON made of objects with ASCII member names, arrays, strings, safe
    integers, booleans and null: no floats, whose JCS form is ECMAScript's."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -SAFE_INTEGER <= item <= SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        else:
            return False
    return True


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def content_hash(content: Content) -> str:
    """The hash of a revision's content: SHA-256 over its canonical JSON."""
    return sha256_hex(canonical_json(content.to_dict()))


def signing_payload(agreement_id: str, revision: int, content: Content) -> bytes:
    """The exact bytes a party signs: JCS of {agreement_id, revision, content}."""
    return canonical_json(
        {"agreement_id": agreement_id, "revision": revision, "content": content.to_dict()}
    )


def decode_base64(value: str, *, what: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding."""
    if not isinstance(value, str):
        raise InvalidSigningKeyError(f"{what} must be a base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSigningKeyError(f"{what} is not valid base64") from None


def parse_public_key(public_key_b64: str) -> bytes:
    """Decode and check a base64 Ed25519 public key (raw 32 bytes)."""
    raw = decode_base64(public_key_b64, what="public_key")
    if len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidSigningKeyError(
            f"public_key must be the raw {PUBLIC_KEY_BYTES} bytes of an Ed25519 key, "
            f"got {len(raw)} bytes"
        )
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidSigningKeyError("public_key is not a valid Ed25519 key") from None
    return raw


KEY_PROOF_PURPOSE = "tris-signing-key"


def key_proof_payload(party_id: str, public_key_text: str) -> bytes:
    """The bytes a key signs to prove its holder registers it for that party (RFC 8785).

    `public_key_text` is the base64 exactly as the registration sent it.
    """
    return canonical_json(
        {"party_id": party_id, "public_key": public_key_text, "purpose": KEY_PROOF_PURPOSE}
    )


def key_registration(private_key: Ed25519PrivateKey, party_id: str) -> tuple[str, str]:
    """What a party sends to register its key: (public_key, proof), both base64.

    The client side of `key_proof_payload`, for the demo, the tests and Python clients.
    """
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public_key_text = base64.b64encode(raw).decode("ascii")
    proof = private_key.sign(key_proof_payload(party_id, public_key_text))
    return public_key_text, base64.b64encode(proof).decode("ascii")


def parse_key_proof(proof_b64: str) -> bytes:
    """Decode a proof of possession: base64 of a 64-byte Ed25519 signature."""
    try:
        raw = decode_base64(proof_b64, what="proof")
    except InvalidSigningKeyError as error:
        raise InvalidKeyProofError(error.detail) from None
    if len(raw) != SIGNATURE_BYTES:
        raise InvalidKeyProofError(
            f"proof must be the {SIGNATURE_BYTES} bytes of an Ed25519 signature, got {len(raw)}"
        )
    return raw


def signature_is_valid(public_key: bytes, signature: bytes, payload: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `payload` under `public_key`."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_fingerprint(public_key: bytes) -> str:
    """A short stable id for a public key: the first 16 hex digits of its SHA-256."""
    return sha256_hex(public_key)[:16]
