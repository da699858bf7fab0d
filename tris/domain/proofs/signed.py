"""What the server signs, and how a signature or a bundle's layout is checked: pure computation.

A checkpoint is signed as JCS of {"log": "tris", "tree_size", "root_hash", "issued_at"}; an
evidence bundle as JCS of the whole bundle without its `bundle_signature` member. A bundle
file is written in one fixed layout (`render_bundle`), so that no byte of it, not even
white space or the order of its members, can change without a check failing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tris.domain.signing import canonical_json, signature_is_valid

LOG_NAME = "tris"
BUNDLE_FORMAT = "tris-evidence/2"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Check:
    """One named check and its result, with a human-readable detail."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def checkpoint_payload(tree_size: int, root_hash: str, issued_at: str) -> bytes:
    """The exact bytes the server signs for a checkpoint."""
    return canonical_json(
        {"log": LOG_NAME, "tree_size": tree_size, "root_hash": root_hash, "issued_at": issued_at}
    )


def strict_base64(value: object) -> bytes | None:
    """Decode canonical standard base64 (None when it is not exactly that)."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Reject encodings with stray padding bits: one value, one spelling.
    return raw if base64.b64encode(raw).decode("ascii") == value else None


def server_signature_valid(public_key: object, signature: object, message: bytes) -> bool:
    """True when `signature` (base64) verifies `message` under `public_key` (base64)."""
    key = strict_base64(public_key)
    sig = strict_base64(signature)
    if key is None or sig is None or len(key) != 32:
        return False
    return signature_is_valid(key, sig, message)


def bundle_payload(bundle: dict[str, Any]) -> bytes:
    """The bytes the server signs for an evidence bundle: JCS without `bundle_signature`."""
    return canonical_json({k: v for k, v in bundle.items() if k != "bundle_signature"})


def render_bundle(bundle: dict[str, Any]) -> bytes:
    """The one layout a bundle file has: two-space indented UTF-8 JSON, members sorted, newline."""
    return (json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp with microseconds and a `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and root hash at a moment."""

    tree_size: int
    root_hash: str
    issued_at: str
    signature: str
    key_id: str

    def payload(self) -> bytes:
        """The exact bytes that were signed."""
        return checkpoint_payload(self.tree_size, self.root_hash, self.issued_at)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "log": LOG_NAME,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "issued_at": self.issued_at,
            "signature": self.signature,
            "key_id": self.key_id,
        }
