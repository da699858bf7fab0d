"""The benchmark's world: one durable throwaway PostgreSQL, TRIS settings, server processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.postgres import ThrowawayPostgres
from tests.support.server import LISTENING, tcp_sockets
from tris.application.integrity.keys import write_new_key
from tris.bootstrap import Services, build
from tris.config import load_settings

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60
# The benchmark measures throughput, not the per-token limiter (which still runs).
RATE_LIMIT = 100_000_000


@dataclass
class Bench:
    """What every benchmark gets: the cluster, a scratch directory and the server key."""

    cluster: ThrowawayPostgres
    directory: Path
    key_file: Path

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        """Environment of a `tris` process on a database."""
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PYTHONOPTIMIZE": "1",
            "TRIS_DATABASE_URL": database_url,
            "TRIS_SERVER_KEY_FILE": str(self.key_file),
            "TRIS_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "TRIS_ANONYMOUS_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "TRIS_CHECKPOINT_INTERVAL_SECONDS": "0",
            **extra,
        }

    def services(self, database_url: str, **overrides: Any) -> Services:
        """TRIS services in this process on a database."""
        overrides.setdefault("projections", "inline")
        overrides.setdefault("checkpoint_interval_seconds", 0)
        settings = load_settings(
            database_url=database_url, server_key_file=str(self.key_file), **overrides
        )
        return build(settings)


@contextlib.contextmanager
def bench_world(directory: Path) -> Iterator[Bench]:
    """A durable PostgreSQL (fsync on, as in production) and a server key, removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "server-key.pem"
    if not key_file.exists():
        write_new_key(key_file)
    with ThrowawayPostgres(durable=True) as cluster:
        yield Bench(cluster, directory, key_file)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(
    argv: Sequence[str], env: dict[str, str], port: int, log_path: Path, processes: int = 1
) -> Iterator[tuple[str, int]]:
    """Run a server until it answers `GET /healthz` and each of its `processes` listens on
    the port (its address and pid); stop it (SIGINT) afterwards. Each process accepts on
    a socket of its own (ADR 33): a load started while one of them is still starting
    would be served by the others alone."""
    log = log_path.open("w")
    process = subprocess.Popen(list(argv), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base_url, log_path)
        if processes > 1:
            wait_for_listeners(process, port, processes, log_path)
        yield base_url, process.pid
    finally:
        stop_process(process)
        log.close()


@contextlib.contextmanager
def background_process(argv: Sequence[str], env: dict[str, str], log_path: Path) -> Iterator[None]:
    """Run a helper process (e.g. `tris worker`) for the duration of the block."""
    log = log_path.open("w")
    process = subprocess.Popen(list(argv), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited: {log_path.read_text()}")
        yield
    finally:
        stop_process(process)
        log.close()


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Block until the server answers its health check (RuntimeError if it dies or hangs)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer: {log_path.read_text()[-3000:]}")
        time.sleep(0.2)


def wait_for_listeners(
    process: subprocess.Popen[bytes], port: int, count: int, log_path: Path
) -> None:
    """Block until `count` sockets listen on `port` (RuntimeError if the server dies or
    they do not all come up in time)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(tcp_sockets(port, LISTENING)) < count:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} processes did not listen: {log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL after 30 s: the process we started, by its id."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def python() -> str:
    """The interpreter running the benchmark (the project's venv)."""
    return sys.executable
