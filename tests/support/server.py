"""A real tris server process for tests: a free port, its environment, an admin token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_key_file(directory: Path) -> Path:
    """A PKCS#8 PEM Ed25519 key for the server (PostgreSQL deployments must configure one)."""
    path = directory / "server-key.pem"
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    return path


def tris_env(database_url: str, directory: Path) -> dict[str, str]:
    """The environment of a tris process on this database, with a server key file."""
    return {
        **os.environ,
        "TRIS_DATABASE_URL": database_url,
        "TRIS_SERVER_KEY_FILE": str(server_key_file(directory)),
        "PYTHONPATH": str(REPO),
    }


def create_admin_token(database_url: str, cwd: Path) -> str:
    """An admin token made by `tris admin create-token`, as an operator would."""
    done = subprocess.run(
        [sys.executable, "-m", "tris", "admin", "create-token", "--role", "admin"],
        capture_output=True,
        text=True,
        env=tris_env(database_url, cwd),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("tris_") and "\n" not in token, done.stdout
    return token


@dataclass(frozen=True)
class LiveServer:
    """A served API and the tokens of every role, by the name the fuzzer knows them by."""

    base_url: str
    tokens: dict[str, str]
    log: Path
    agreement_ids: list[str]
    party_ids: list[str]
    # Ids of every token issued before the run (the seeded ones): they must stay valid.
    token_ids: list[str]
    # Registered parties no token of the fuzzer acts for: completed proposals name them
    # beside the proposer, never the peer, whose reads of the proposer's objects must fail.
    outsider_party_ids: list[str]
    # Ids of the signing keys registered before the run: they must stay registered.
    key_ids: list[str]
    # Per partner role: its party id, signing key id and the raw private key (base64).
    partners: dict[str, dict[str, str]]
