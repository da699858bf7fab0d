"""Two API processes and projection workers on one PostgreSQL, under concurrent writes.

The read models must show each client its own writes through either process, survive a
`kill -9` of the worker, and end equal to a rebuild from the log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.conftest import content, public_key_b64
from tests.e2e.test_http_real_server import create_admin_token, free_port, tris_env

STARTUP_SECONDS = 60


class Processes:
    """The processes of one deployment, started and stopped by the test."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.env = {**tris_env(database_url, directory), "TRIS_PROJECTIONS": "worker"}
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.directory / log).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tris", *args],
                env=self.env,
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        return process

    def serve(self) -> str:
        port = free_port()
        self.start("serve", "--host", "127.0.0.1", "--port", str(port), log=f"serve-{port}.log")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"tris serve on {port} did not start")

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start("worker", "--interval", "0.02", log="worker.log")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tris", *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def deployment(postgres_cluster: Any, tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(postgres_cluster.create_database(), tmp_path)
    yield processes
    processes.stop()


def test_two_api_processes_and_a_worker_keep_read_models_equal_to_a_rebuild(
    deployment: Processes,
) -> None:
    admin_token = create_admin_token(deployment.database_url, deployment.directory)
    admin = {"Authorization": f"Bearer {admin_token}"}
    first, second = deployment.serve(), deployment.serve()
    worker = deployment.worker()

    partners = []
    for name, sector in [
        ("Bezirksamt Mitte", "state"),
        ("Kiezbäckerei Schulz GmbH", "business"),
        ("Nachbarschaftshaus Moabit e.V.", "civil_society"),
    ]:
        party = httpx.post(
            f"{first}/v1/parties", json={"name": name, "sector": sector}, headers=admin
        )
        assert party.status_code == 201, party.text
        token = httpx.post(f"{first}/v1/parties/{party.json()['id']}/tokens", headers=admin).json()
        key = Ed25519PrivateKey.generate()
        registered = httpx.post(
            f"{second}/v1/parties/{party.json()['id']}/signing-keys",
            json={"public_key": public_key_b64(key)},
            headers={"Authorization": f"Bearer {token['token']}"},
        )
        assert registered.status_code == 201, registered.text
        partners.append((party.json()["id"], token["token"]))

    class P:
        def __init__(self, party_id: str) -> None:
            self.party_id = party_id

    state, business, civil = (P(p) for p, _ in partners)
    created: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        _party_id, token = partners[n % 3]
        me = {"Authorization": f"Bearer {token}"}
        write, read = (first, second) if n % 2 == 0 else (second, first)
        body = content(business, civil, state, title=f"Kooperation {n}")  # type: ignore[arg-type]
        with httpx.Client(timeout=60) as http:
            for i in range(6):
                body["title"] = f"Kooperation {n}-{i}"
                answer = http.post(f"{write}/v1/agreements", json=body, headers=me)
                if answer.status_code != 201:
                    failures.append(answer.text)
                    continue
                agreement_id = answer.json()["id"]
                position = answer.headers["X-TRIS-Position"]
                # Read-your-writes through the OTHER process.
                listed = http.get(
                    f"{read}/v1/agreements",
                    params={"min_position": position, "q": body["title"]},
                    headers=me,
                )
                if listed.status_code != 200 or agreement_id not in listed.text:
                    failures.append(f"not visible via the other process: {listed.text}")
                with lock:
                    created.append(agreement_id)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    # Kill the worker mid-load; a new one must carry on without loss or duplication.
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deployment.worker()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(created) == 36

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = deployment.cli("projections", "status")
        if all(line.split()[-1] == "0" for line in status.splitlines()[1:]):
            break
        time.sleep(0.5)
    live = deployment.cli("projections", "digest", "--no-catch-up")
    listed = httpx.get(f"{first}/v1/agreements", params={"limit": 500}, headers=admin).json()
    assert {item["id"] for item in listed["items"]} == set(created)
    deployment.cli("rebuild")
    assert deployment.cli("projections", "digest", "--no-catch-up") == live
