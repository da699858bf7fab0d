"""Two API processes and projection workers on one PostgreSQL, under concurrent writes.

The read models must show each client its own writes through either process, survive a
`kill -9` of a worker while another races it for every batch, and end equal to a rebuild
from the log. Run twice: as two `tris serve` processes with `TRIS_PROJECTIONS=worker`, and
as the README's PostgreSQL deployment — `tris serve --workers 2` with the default
`TRIS_PROJECTIONS=auto` beside live `tris worker`s.
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

from tests.support.concurrency import joined
from tests.support.http import Api, content
from tests.support.server import (
    create_admin_token,
    free_port,
    serve_command,
    tris_env,
    wait_until_served,
)


class Processes:
    """The processes of one deployment, started and stopped by the test."""

    def __init__(self, database_url: str, directory: Path, projections: str) -> None:
        self.database_url = database_url
        self.directory = directory
        self.env = {**tris_env(database_url, directory), "TRIS_PROJECTIONS": projections}
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

    def serve(self, workers: int = 1) -> str:
        port = free_port()
        log = f"serve-{port}.log"
        process = self.start(*serve_command(port, workers)[3:], log=log)
        base = f"http://127.0.0.1:{port}"
        wait_until_served(base, process, self.directory / log)
        return base

    def worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        return self.start("worker", "--interval", "0.02", log=f"{name}.log")

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


@pytest.fixture(params=["worker", "auto"])
def deployment(
    postgres_cluster: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Processes]:
    processes = Processes(postgres_cluster.create_database(), tmp_path, request.param)
    yield processes
    processes.stop()


def test_two_api_processes_and_two_workers_keep_read_models_equal_to_a_rebuild(
    deployment: Processes,
) -> None:
    admin_token = create_admin_token(deployment.database_url, deployment.directory)
    admin = {"Authorization": f"Bearer {admin_token}"}
    auto = deployment.env["TRIS_PROJECTIONS"] == "auto"
    if auto:  # the README's deployment: one `tris serve` of two API processes
        first = second = deployment.serve(workers=2)
    else:
        first, second = deployment.serve(), deployment.serve()
    # Two workers race for every batch: exactly one applies it (compare-and-set).
    worker, _ = deployment.worker("worker-1"), deployment.worker("worker-2")

    with httpx.Client(base_url=first, timeout=60) as setup:
        registrar = Api(setup, admin_token)
        state = registrar.partner("Bezirksamt Mitte", "state")
        business = registrar.partner("Kiezbäckerei Schulz GmbH", "business")
        civil = registrar.partner("Nachbarschaftshaus Moabit e.V.", "civil_society")
    partners = [state, business, civil]
    created: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        me = partners[n % 3].headers()
        write, read = (first, second) if n % 2 == 0 else (second, first)
        body = content(business, civil, state, title=f"Kooperation {n}")
        with httpx.Client(timeout=60) as http, httpx.Client(base_url=write, timeout=60) as own:
            api = Api(own, admin_token)
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
                if auto:
                    # Answered only once the read models hold it: visible without waiting.
                    at_once = http.get(
                        f"{read}/v1/agreements", params={"q": body["title"]}, headers=me
                    )
                    if agreement_id not in at_once.text:
                        failures.append(f"answered before it was applied: {at_once.text}")
                if i % 2 == 0:
                    # Events that change commitments and the sector's totals, not only lists.
                    api.conclude(agreement_id, 1, state, business, civil)
                    delivery = {"quantity": "4", "delivered_on": "2026-05-01", "note": "Gekocht"}
                    recorded = api.post(
                        business, agreement_id, "commitments/C1/fulfilments", delivery
                    )
                    confirmed = api.post(
                        civil, agreement_id, f"fulfilments/{recorded.json()['id']}/confirmation"
                    )
                    if confirmed.status_code != 200:
                        failures.append(confirmed.text)
                with lock:
                    created.append(agreement_id)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    # Kill a worker mid-load; the other and a new one carry on without loss or duplication.
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deployment.worker("worker-3")
    joined(*threads, timeout=300)
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
    stats = httpx.get(f"{second}/v1/stats", headers=admin).json()
    assert stats["agreements"]["by_status"]["in_force"] == 18
    assert stats["commitments"]["by_kind_and_unit"] == [
        {"kind": "time", "unit": "hours", "committed": "180", "fulfilled": "72"}
    ]
    deployment.cli("rebuild")
    assert deployment.cli("projections", "digest", "--no-catch-up") == live
