"""A real tris server process for tests: a free port, its environment, an admin token."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
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


def run_tris(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tris <args>` as its own process on this database, to its end (two minutes at most)."""
    return subprocess.run(
        [sys.executable, "-m", "tris", *args],
        capture_output=True,
        text=True,
        env=tris_env(database_url, cwd),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def create_admin_token(database_url: str, cwd: Path) -> str:
    """An admin token made by `tris admin create-token`, as an operator would."""
    done = run_tris(database_url, cwd, "admin", "create-token", "--role", "admin")
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


STARTUP_SECONDS = 60


def serve_command(port: int, workers: int = 1, *extra: str) -> list[str]:
    """The command line of `tris serve` on 127.0.0.1 at `port` with `workers` processes."""
    return [
        sys.executable, "-m", "tris", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), *extra,
    ]  # fmt: skip


def wait_until_served(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once the server answers /healthz; fail the test if it exits or never does."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise AssertionError(f"tris serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"tris serve did not answer: {log.read_text()}")
        time.sleep(0.2)


@contextmanager
def served(database_url: str, directory: Path, workers: int = 1) -> Iterator[tuple[str, str]]:
    """A running `tris serve` on a free port and an admin token; stopped afterwards."""
    token = create_admin_token(database_url, directory)
    port = free_port()
    log_path = directory / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            serve_command(port, workers),
            env=tris_env(database_url, directory),
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_served(base_url, process, log_path)
            yield base_url, token
        finally:
            stop(process, signal.SIGINT, timeout=30)


def stop(process: subprocess.Popen[bytes], sig: int, *, timeout: float) -> None:
    """Ask a server to stop with `sig`; kill it when it has not stopped within `timeout`."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# States of a TCP socket in /proc/net/tcp.
LISTENING = "0A"
ESTABLISHED = "01"


def tcp_sockets(port: int, state: str) -> set[str]:
    """The inodes of this machine's TCP sockets on local `port` in `state` (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def sockets_by_process(port: int, state: str) -> dict[int, int]:
    """How many TCP sockets on local `port` in `state` each process holds (Linux)."""
    inodes = tcp_sockets(port, state)
    held: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        held[int(entry.name)] = held.get(int(entry.name), 0) + 1
    return held
