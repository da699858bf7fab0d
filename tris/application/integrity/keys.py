"""The server's Ed25519 key, which signs checkpoints and bundles; it lives outside the database.

The key is a PKCS#8 PEM file named by `TRIS_SERVER_KEY_FILE`. For the embedded SQLite
default it is created beside the database on first use (mode 0600); for PostgreSQL it must
be configured, since several processes must sign with the same key.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from tris.application.errors import ServerKeyError
from tris.config import Settings, parse_database_url
from tris.domain.signing import key_fingerprint


@dataclass(frozen=True)
class ServerKey:
    """The server's signing key and its public identity."""

    private_key: Ed25519PrivateKey
    # Secrets derived per purpose, computed once: the fingerprint of every Idempotency-Key
    # request and every person key wrapped or opened asks for one.
    _derived: dict[bytes, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def public_bytes(self) -> bytes:
        """The raw 32 bytes of the public key."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_key(self) -> str:
        """The public key as standard base64 of its raw 32 bytes."""
        return base64.b64encode(self.public_bytes).decode("ascii")

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of SHA-256 of the raw public key."""
        return key_fingerprint(self.public_bytes)

    def sign(self, message: bytes) -> str:
        """A base64 Ed25519 signature of `message`."""
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte secret for one purpose (HKDF-SHA256 over the private key)."""
        known = self._derived.get(purpose)
        if known is None:
            raw = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
            known = self._derived.setdefault(purpose, hkdf.derive(raw))
        return known


def key_path(settings: Settings) -> tuple[Path, bool]:
    """Where the key file is, and whether TRIS may create it there when it is missing."""
    if settings.server_key_file:
        return Path(settings.server_key_file), False
    backend, parts = parse_database_url(settings.database_url)
    if backend != "sqlite":
        raise ServerKeyError(
            "TRIS_SERVER_KEY_FILE must name the server's Ed25519 key file (PEM) when the "
            "database is PostgreSQL; create one with `openssl genpkey -algorithm ed25519 -out FILE`"
        )
    return Path(parts["path"] + ".server-key"), True


def load_server_key(path: Path, *, create: bool) -> ServerKey:
    """Read the key file; when allowed and missing, create it first with mode 0600."""
    if not path.exists():
        if not create:
            raise ServerKeyError(f"server key file {path} does not exist")
        write_new_key(path)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ServerKeyError(f"server key file {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ServerKeyError(f"server key file {path} does not hold an Ed25519 private key")
    return ServerKey(key)


def write_new_key(path: Path) -> None:
    """Create a new key file atomically; a concurrent creator's file wins and is kept."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tris-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        # link() fails when the file exists, so two processes never overwrite each other.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
