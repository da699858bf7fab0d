"""Schemas of the verifiable history: checkpoints, proofs, the server key, verification."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

HEX_HASH = "Lowercase hex of a SHA-256 hash"


class CheckpointView(BaseModel):
    """A signed statement of the Merkle log's size and root hash at a moment."""

    log: Literal["tris"] = "tris"
    tree_size: int = Field(ge=0, description="Number of leaves (events) the root covers")
    root_hash: str = Field(description=HEX_HASH + ": the RFC 9162 root of the first leaves")
    issued_at: str = Field(description="RFC 3339 UTC timestamp")
    signature: str = Field(
        description="Base64 Ed25519 signature of the RFC 8785 JSON of "
        '{"log", "tree_size", "root_hash", "issued_at"} by the server key'
    )
    key_id: str = Field(description="Id of the server key: 16 hex digits of its SHA-256")


class ServerKeyView(BaseModel):
    """The server's public key: checkpoints and evidence bundles verify under it."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key")
    public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key")
    fingerprint: str = Field(
        description="Hex SHA-256 of the raw public key: the pin of `tris verify --server-key`"
    )


class InclusionProofView(BaseModel):
    """The audit path proving one event is a leaf of the log at some tree size."""

    position: int = Field(description="The event's global position")
    leaf_index: int
    tree_size: int
    aggregate_id: str
    version: int
    event_hash: str | None = Field(description=HEX_HASH + ": the event's chain hash")
    leaf_hash: str = Field(description=HEX_HASH + " of 0x00 followed by the event hash")
    root_hash: str = Field(description=HEX_HASH + ": the root of the tree of `tree_size`")
    path: list[str] = Field(description="Sibling hashes from the leaf up (RFC 9162 §2.1.3)")


class ConsistencyProofView(BaseModel):
    """The proof that the log of size `first` is a prefix of the log of size `second`."""

    first: int
    second: int
    first_root: str | None
    second_root: str
    path: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, as hex hashes")


class CheckView(BaseModel):
    """One check and its result."""

    name: str
    ok: bool
    detail: str


class SignerKeyView(BaseModel):
    """A key of a party of the agreement, and whether its registration proved possession."""

    party_id: str
    key_id: str
    proven: bool = Field(
        description="Registered with a proof of possession (false for keys registered "
        "before proofs were required)"
    )
    revoked: bool


class VerificationView(BaseModel):
    """Every check of one agreement: chain, signatures, checkpoint, inclusion of each event."""

    agreement_id: str
    version: int = Field(description="The agreement version checked: that of its last event")
    ok: bool = Field(description="True when every check passed")
    checked_at: str
    chain_head: str | None
    checkpoint: CheckpointView | None
    checks: list[CheckView]
    signing_keys: list[SignerKeyView] = Field(
        default_factory=list, description="The keys of the agreement's parties"
    )
