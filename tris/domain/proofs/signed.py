"""What the server signs, and how a signature or a bundle's layout is checked: pure computation.

A checkpoint is signed as JCS of {"log": "tris", "tree_size", "root_hash", "issued_at"}; an
evidence bundle as JCS of {"format", "bundle_sha256"}, the SHA-256 of the JCS of the whole
bundle without its `bundle_signature` member — a digest, so that the server can write a
bundle of any length a piece at a time (`jcs_chunks`, `layout_chunks`) and never hold it
whole. A bundle file is written in one fixed layout (`render_bundle`), so that no byte of
it, not even white space or the order of its members, can change without a check failing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
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


def bundle_statement(bundle_sha256: str) -> bytes:
    """The bytes the server signs for an evidence bundle whose unsigned JCS has this digest."""
    return canonical_json({"format": BUNDLE_FORMAT, "bundle_sha256": bundle_sha256})


def bundle_payload(bundle: dict[str, Any]) -> bytes:
    """The bytes the server signs for a bundle held in memory (see `bundle_statement`)."""
    unsigned = {k: v for k, v in bundle.items() if k != "bundle_signature"}
    return bundle_statement(hashlib.sha256(canonical_json(unsigned)).hexdigest())


def render_bundle(bundle: dict[str, Any]) -> bytes:
    """The one layout a bundle file has: two-space indented UTF-8 JSON, members sorted, newline."""
    return (json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Streamed:
    """A list member of a bundle produced item by item, as often as it is asked for (the
    server writes a bundle twice: once to hash it, once to send it)."""

    items: Callable[[], Iterable[Any]]


Members = dict[str, Any]


def jcs_chunks(members: Members) -> Iterator[bytes]:
    """RFC 8785 JSON of an object whose `Streamed` members are written item by item (TRIS's
    member names are ASCII, so sorting them as strings is sorting them as JCS does)."""
    yield b"{"
    for index, name in enumerate(sorted(members)):
        yield (b"," if index else b"") + canonical_json(name) + b":"
        value = members[name]
        if isinstance(value, Streamed):
            yield b"["
            for position, item in enumerate(value.items()):
                yield (b"," if position else b"") + canonical_json(item)
            yield b"]"
        else:
            yield canonical_json(value)
    yield b"}"


def _indented(value: Any, depth: int) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return text.replace("\n", "\n" + "  " * depth)


def layout_chunks(members: Members) -> Iterator[bytes]:
    """`render_bundle` of an object whose `Streamed` members are written item by item: the
    same bytes, a member or an item at a time."""
    if not members:
        yield b"{}\n"
        return
    yield b"{\n"
    for index, name in enumerate(sorted(members)):
        head = ("" if index == 0 else ",\n") + "  " + json.dumps(name, ensure_ascii=False) + ": "
        value = members[name]
        if not isinstance(value, Streamed):
            yield (head + _indented(value, 1)).encode("utf-8")
            continue
        opened = False
        for item in value.items():
            lead = head + "[\n    " if not opened else ",\n    "
            opened = True
            yield (lead + _indented(item, 2)).encode("utf-8")
        yield (head + "[]" if not opened else "\n  ]").encode("utf-8")
    yield b"\n}\n"


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
