"""A served API whose database goes away: 503 with Retry-After, never a hang, then service.

Also the other bounds a real server keeps: a request that cannot finish in time is answered
503 at its deadline, one stuck behind a lock is answered 503 at the lock timeout, and a
server told to stop finishes the requests it is serving.
Each test runs `tris serve` as a real process on a PostgreSQL cluster of its own, which
the test stops and starts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.http import Api, Partner, content
from tests.support.postgres import ThrowawayPostgres
from tris.application.integrity.keys import write_new_key

REPO = Path(__file__).resolve().parents[2]
EVENTS_TABLE = "trisapplication_events"  # the library's table, named after the application
HUNG_SECONDS = 20.0  # the pool waits 5 s for a connection; anything near this is a hang

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Served:
    """A running server on its own cluster, with an admin token and one partner."""

    cluster: ThrowawayPostgres
    database_url: str
    process: subprocess.Popen[bytes]
    base_url: str
    admin_token: str
    partner: Partner
    other: Partner
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster these tests may stop and start."""
    with ThrowawayPostgres(durable=False) as own:
        yield own


def _serve(
    cluster: ThrowawayPostgres,
    workdir: Path,
    before_start: Callable[[], None] | None = None,
    after_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    **settings: str,
) -> Served:
    url = cluster.create_database()
    key = workdir / "server.key"
    write_new_key(key)
    env = {
        **os.environ,
        "TRIS_DATABASE_URL": url,
        "TRIS_SERVER_KEY_FILE": str(key),
        "PYTHONPATH": str(REPO),
        **{f"TRIS_{name.upper()}": value for name, value in settings.items()},
    }
    token = subprocess.run(
        [sys.executable, "-m", "tris", "admin", "create-token", "--role", "admin"],
        capture_output=True, text=True, env=env, cwd=workdir, timeout=120, check=True,
    ).stdout.strip()  # fmt: skip
    if before_start is not None:
        before_start()
    port = _free_port()
    log = workdir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tris", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if after_start is not None:
        after_start(process)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        api = Api(client, token)
        partner = api.partner("Bezirksamt Mitte", "state")
        other = api.partner("Kiezbäckerei GmbH", "business")
    return Served(cluster, url, process, base_url, token, partner, other, log)


@pytest.fixture
def served(cluster: ThrowawayPostgres, tmp_path: Path) -> Iterator[Served]:
    """A `tris serve` process on the module's cluster (started again if a test stopped it)."""
    if not cluster.is_running():
        cluster.start_server()
    server = _serve(cluster, tmp_path)
    yield server
    _stop(server)


def _stop(server: Served) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    problem = response.json()
    assert problem["status"] == 503
    assert problem["type"] == "https://tris.example/problems/service-unavailable"


def test_while_the_database_is_down_every_request_is_answered_503_and_then_served_again(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.base_url, timeout=120) as client:
        proposed = client.post(
            "/v1/agreements",
            json=content(served.partner, served.other),
            headers=served.partner.headers(),
        )
        assert proposed.status_code == 201, proposed.text
        agreement = f"/v1/agreements/{proposed.json()['id']}"

        served.cluster.stop_server("fast")
        try:
            requests = [
                ("GET", "/v1/agreements", None, {}),
                ("GET", agreement, None, {}),
                ("POST", "/v1/agreements", content(served.partner, served.other), {}),
                (
                    "POST",
                    f"{agreement}/withdrawal",
                    {"reason": "später"},
                    {"If-Match": '"1"', "Idempotency-Key": "withdraw-1"},
                ),
            ]
            for method, path, body, extra in requests:
                started = time.monotonic()
                answer = client.request(
                    method, path, json=body, headers=served.partner.headers(**extra)
                )
                assert time.monotonic() - started < HUNG_SECONDS
                _assert_unavailable(answer)
            assert client.get("/healthz").status_code == 200  # the process itself is up
        finally:
            served.cluster.start_server()

        deadline = time.monotonic() + 30
        while True:
            again = client.get(agreement, headers=served.partner.headers())
            if again.status_code == 200:
                break
            assert again.status_code == 503, again.text
            assert time.monotonic() < deadline, "the server did not serve again"
            time.sleep(0.5)
        withdrawn = client.post(
            f"{agreement}/withdrawal",
            json={"reason": "später"},
            headers=served.partner.headers(**{"If-Match": '"1"', "Idempotency-Key": "withdraw-1"}),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
    assert served.process.poll() is None  # the same process, never restarted
    assert "Traceback" not in served.log.read_text()


class TableLock:
    """Holds an exclusive lock on the event table from outside, until released."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.conn = psycopg.connect(database_url)
        self.conn.execute(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        """Commit, which releases the lock."""
        self.conn.commit()
        self.conn.close()

    def wait_for_a_waiter(self, timeout: float = 30.0) -> None:
        """Return once another session waits for this lock (instead of sleeping on it)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url, autocommit=True) as watcher:
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                if row is not None and row[0] > 0:
                    return
                time.sleep(0.02)
        raise AssertionError(f"no session waited for the table lock within {timeout:g} s")


def test_a_stopping_server_finishes_the_requests_it_is_serving(served: Served) -> None:
    lock = TableLock(served.database_url)
    answers: list[httpx.Response] = []

    def propose() -> None:
        with httpx.Client(base_url=served.base_url, timeout=60) as client:
            answers.append(
                client.post(
                    "/v1/agreements",
                    json=content(served.partner, served.other),
                    headers=served.partner.headers(),
                )
            )

    request = threading.Thread(target=propose)
    request.start()
    lock.wait_for_a_waiter()  # the proposal now waits for the lock
    served.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert served.process.poll() is None  # still finishing the request
    lock.release()
    request.join(timeout=60)
    assert len(answers) == 1 and answers[0].status_code == 201, answers
    # uvicorn ends by re-raising the signal it was stopped with, after a clean shutdown.
    assert served.process.wait(timeout=60) in (0, -signal.SIGTERM)
    log = served.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log


def _propose_while_the_events_table_is_locked(server: Served) -> tuple[httpx.Response, float]:
    """A proposal sent while another session holds a lock on the events table; its answer
    and how long it took."""
    lock = TableLock(server.database_url)
    try:
        with httpx.Client(base_url=server.base_url, timeout=90) as client:
            started = time.monotonic()
            answer = client.post(
                "/v1/agreements",
                json=content(server.partner, server.other),
                headers=server.partner.headers(),
            )
            return answer, time.monotonic() - started
    finally:
        lock.release()


def test_a_request_that_misses_its_deadline_is_answered_503(
    cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    if not cluster.is_running():
        cluster.start_server()
    server = _serve(cluster, tmp_path, request_timeout="2")
    try:
        answer, took = _propose_while_the_events_table_is_locked(server)
        _assert_unavailable(answer)
        assert 1.5 < took < 8
    finally:
        _stop(server)


def test_a_request_waiting_on_a_lock_past_the_lock_timeout_is_answered_503(
    cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    if not cluster.is_running():
        cluster.start_server()
    # A deadline far beyond the lock timeout (10 s): the answer comes from the database.
    server = _serve(cluster, tmp_path, request_timeout="60")
    try:
        answer, took = _propose_while_the_events_table_is_locked(server)
        _assert_unavailable(answer)
        assert 9 < took < 25
        log = server.log.read_text()
        assert "lock timeout" in log and "missed its" not in log and "Traceback" not in log
    finally:
        _stop(server)


def test_a_server_started_while_the_database_is_down_waits_for_it(
    cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    if not cluster.is_running():
        cluster.start_server()

    def database_back_later(process: subprocess.Popen[bytes]) -> None:
        # Back once the server has found it down (not after a fixed time: a busy machine
        # may start the server later than that), and the server still waits, not failed.
        log = tmp_path / "server.log"
        deadline = time.monotonic() + 60
        while "database unavailable at start-up" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the server never tried the database"
            time.sleep(0.1)
        time.sleep(1)
        assert process.poll() is None  # waiting, not failed
        cluster.start_server()

    server = _serve(cluster, tmp_path, lambda: cluster.stop_server("fast"), database_back_later)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            listed = client.get(
                "/v1/parties", headers={"Authorization": f"Bearer {server.admin_token}"}
            )
        assert listed.status_code == 200, listed.text
        assert "database unavailable at start-up" in server.log.read_text()
    finally:
        _stop(server)
