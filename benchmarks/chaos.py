"""`make chaos`: faults under load on PostgreSQL, and proof that nothing acknowledged is lost.

What it does, in about five minutes:

1. starts a durable throwaway PostgreSQL, `tris serve --workers N` (one supervisor, N API
   processes on one port) and one `tris worker`;
2. drives a concurrent command load (propose, revise, sign by every party) in which every
   command carries an Idempotency-Key and every attempt is logged client-side: sent,
   acknowledged (with the agreement version and the `X-TRIS-Position` it answered), failed;
   a failed or 503-answered attempt is retried with the same key, as a careful client does;
3. injects faults while the load runs: `kill -9` of a random API process (the supervisor
   starts a new one) at random moments, `kill -9` of the projection worker (restarted a
   moment later), a clean PostgreSQL restart, then five PostgreSQL crashes — SIGKILL to the
   postmaster and all its processes, and `pg_ctl stop -m immediate` (no shutdown
   checkpoint), alternately, with `fsync`, `synchronous_commit` and `full_page_writes` on —
   during each of which probes check that the API answers 503 problem+json with
   Retry-After, never hangs, and serves again after crash recovery without a restart;
4. then checks, across every fault (the crashes included): every acknowledged command's
   events are in the store at the version and position it was told; no idempotent request
   stored its events twice; 32 concurrent writes with one If-Match give exactly one
   success and 412s; 20 concurrent retries of one Idempotency-Key store one command's
   events; the read models the worker built equal a rebuild from the log (by digest);
   connections stayed within their documented bound.

The result goes to `benchmarks/results/chaos.json` (`postgres_crashes`,
`postgres_crash_recovered`, `acknowledged`, `acknowledged_lost` …); the request log to
`var/chaos/requests.ndjson`. The exit status is 0 only when every check holds — a command
given up, an unexpected answer or a load thread's exception fails it too.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.postgres import ThrowawayPostgres
from tris.application.integrity.keys import write_new_key
from tris.domain.signing import key_registration

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "chaos.json"
LOG_DIR = REPO / "var" / "chaos"

API_PROCESSES = 3
CLIENTS = 8
KILL_CYCLES = 24
KILL_PAUSE = (1.5, 4.0)  # seconds between two kills, drawn uniformly
WORKER_KILLS = 2
POSTGRES_DOWN_SECONDS = 8.0
# After the clean restart, PostgreSQL crashes this way, in this order, under the load.
POSTGRES_CRASHES = ("kill9", "immediate", "kill9", "immediate", "kill9")
AFTER_CRASH_SECONDS = 3.0
PROBES = 4  # concurrent probe clients while the database is down
COMMAND_DEADLINE = 120.0  # a client gives up on one command after this long
REQUEST_TIMEOUT = 45.0  # longer than the server's own request deadline (30 s)
HUNG_SECONDS = 35.0  # an answer slower than this, while the database is down, is a hang
IF_MATCH_CLIENTS = 32
IDEMPOTENT_RETRIES = 20
CONNECTIONS_PER_PROCESS = 10  # POOL_SIZE + POOL_OVERFLOW in tris.storage.database
SEED = 20260601

RETRYABLE = {500, 502, 503, 504}


# ---------------------------------------------------------------------------- the request log


class RequestLog:
    """Every attempt, as the client saw it, appended to an NDJSON file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def write(self, **entry: Any) -> None:
        """Append one entry (thread-safe)."""
        with self._lock:
            self.counts[str(entry.get("outcome"))] += 1
            self._file.write(json.dumps(entry, sort_keys=True) + "\n")

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


@dataclass
class Command:
    """One intended change, its key, and what the server acknowledged for it (if it did)."""

    op: str
    key: str
    agreement_id: str | None
    attempts: int = 0
    acknowledged: bool = False
    status: int | None = None
    version: int | None = None
    position: int | None = None
    replayed: bool = False


@dataclass
class Partner:
    """A party acting through its partner token with a registered Ed25519 key."""

    party_id: str
    token: str
    key: Ed25519PrivateKey
    key_id: str

    def headers(self, **extra: str) -> dict[str, str]:
        """Bearer header plus any others."""
        return {"Authorization": f"Bearer {self.token}", **extra}


# --------------------------------------------------------------------------- the processes


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """PostgreSQL, the API supervisor and its processes, and the projection worker."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.postgres = ThrowawayPostgres(durable=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.database_url = ""
        self.env: dict[str, str] = {}

    def start(self) -> None:
        """Start PostgreSQL, make the database and the server key, start API and worker."""
        self.postgres.start()
        self.database_url = self.postgres.create_database("tris_chaos")
        key = self.workdir / "server.key"
        write_new_key(key)
        self.env = {
            **os.environ,
            "TRIS_DATABASE_URL": self.database_url,
            "TRIS_SERVER_KEY_FILE": str(key),
            "TRIS_RATE_LIMIT_PER_MINUTE": "1000000",
            "TRIS_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "1000000",
            "PYTHONPATH": str(REPO),
        }
        self.cli("admin", "create-token", "--role", "auditor")  # creates the schema once
        self.start_api()
        self.start_worker()

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run `tris ARGS` against the database; return its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "tris", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tris {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout.strip()

    def start_api(self) -> None:
        """`tris serve --workers N` in a session of its own, and wait until it answers."""
        log = (self.workdir / "api.log").open("ab")
        self.api = subprocess.Popen(
            [sys.executable, "-m", "tris", "serve", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", str(API_PROCESSES)],
            env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.wait_for_api(API_PROCESSES)

    def wait_for_api(self, processes: int, timeout: float = 90) -> None:
        """Until /healthz answers and the supervisor has `processes` children."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api is not None and self.api.poll() is not None:
                raise RuntimeError("tris serve exited; see api.log")
            with suppress(httpx.HTTPError):
                up = httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
                if up and len(self.api_pids()) >= processes:
                    return
            time.sleep(0.2)
        raise RuntimeError("tris serve did not come up")

    def api_pids(self) -> list[int]:
        """The API processes (the supervisor's children)."""
        if self.api is None:
            return []
        path = Path(f"/proc/{self.api.pid}/task/{self.api.pid}/children")
        with suppress(OSError):
            return [int(p) for p in path.read_text().split()]
        return []

    def start_worker(self) -> None:
        """Start one `tris worker`."""
        log = (self.workdir / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "tris", "worker"],
            env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill_worker(self) -> None:
        """`kill -9` the projection worker."""
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait(timeout=30)

    def stop_worker(self) -> None:
        """Stop the worker the polite way (SIGTERM finishes its batch)."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(timeout=10)

    def stop(self) -> None:
        """Stop everything this run started, by process id."""
        self.stop_worker()
        if self.api is not None and self.api.poll() is None:
            self.api.send_signal(signal.SIGTERM)
            try:
                self.api.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.api.pid, signal.SIGKILL)
                self.api.wait(timeout=10)
        self.postgres.stop()

    @contextmanager
    def sql(self) -> Iterator[psycopg.Connection[Any]]:
        """A direct connection to the database, behind TRIS's back."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            yield conn


class ConnectionSampler(threading.Thread):
    """Samples the number of sessions on the database twice a second."""

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(daemon=True)
        self.deployment = deployment
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        """Sample until stopped; a database that is down is skipped."""
        while not self.stop.wait(0.5):
            with suppress(psycopg.Error):
                with psycopg.connect(self.deployment.postgres.admin_url, connect_timeout=2) as c:
                    row = c.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                        ("tris_chaos",),
                    ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)


# ------------------------------------------------------------------------------ the client


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """Base64 of the raw public key."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class Client:
    """One load thread's HTTP client: logs every attempt, retries with the same key."""

    def __init__(self, base_url: str, log: RequestLog, name: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT)
        self.log = log
        self.name = name

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One attempt, logged; None when no answer came."""
        started = time.time()
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.log.write(
                client=self.name, method=method, path=path, sent=started,
                took=time.time() - started, outcome="failed", error=type(exc).__name__,
            )  # fmt: skip
            return None
        self.log.write(
            client=self.name, method=method, path=path, sent=started,
            took=time.time() - started, outcome=str(response.status_code),
            key=kwargs.get("headers", {}).get("Idempotency-Key"),
            version=response.headers.get("ETag"),
            position=response.headers.get("X-TRIS-Position"),
        )  # fmt: skip
        return response

    def read(self, path: str, headers: dict[str, str]) -> httpx.Response:
        """A GET retried until it gets an answer other than 5xx."""
        deadline = time.monotonic() + COMMAND_DEADLINE
        while True:
            response = self.request("GET", path, headers=headers)
            if response is not None and response.status_code not in RETRYABLE:
                return response
            if time.monotonic() > deadline:
                raise TimeoutError(f"GET {path} gave no answer")
            time.sleep(backoff(response))

    def command(
        self, command: Command, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response | None:
        """Send a command until it is answered for good; record what was acknowledged."""
        headers = {**headers, "Idempotency-Key": command.key}
        deadline = time.monotonic() + COMMAND_DEADLINE
        while time.monotonic() < deadline:
            command.attempts += 1
            response = self.request("POST", path, json=body, headers=headers)
            if response is None or response.status_code in RETRYABLE or in_flight(response):
                time.sleep(backoff(response))
                continue
            command.status = response.status_code
            if response.is_success:
                command.acknowledged = True
                command.replayed = response.headers.get("Idempotent-Replayed") == "true"
                payload = response.json()
                command.agreement_id = command.agreement_id or payload.get("id")
                command.version = payload.get("version")
                raw = response.headers.get("X-TRIS-Position")
                command.position = int(raw) if raw else None
            return response
        return None


def in_flight(response: httpx.Response) -> bool:
    """A 409 saying the same key is still being processed (retry later)."""
    return response.status_code == 409 and "idempotency-in-flight" in response.text


def backoff(response: httpx.Response | None) -> float:
    """Seconds to wait before the next attempt: Retry-After when given, else a short pause."""
    if response is not None and response.headers.get("Retry-After", "").isdigit():
        return min(float(response.headers["Retry-After"]), 5.0)
    return random.uniform(0.2, 1.0)


def content(parties: list[Partner], title: str) -> dict[str, Any]:
    """Agreement content in which the second party owes the third five hours."""
    return {
        "title": title,
        "purpose": "Kiezküche unter Last",
        "parties": [p.party_id for p in parties],
        "terms": {"text": "Nach dem Marktplatz-Prinzip, ohne Geld"},
        "commitments": [
            {
                "debtor": parties[1].party_id,
                "beneficiary": parties[2].party_id,
                "kind": "time",
                "quantity": "5",
                "unit": "hours",
                "description": "Kochen",
            }
        ],
    }


# --------------------------------------------------------------------------------- the load


@dataclass
class Load:
    """The commands of every load thread."""

    commands: list[Command] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    gave_up: int = 0
    unexpected: list[str] = field(default_factory=list)
    thread_errors: list[str] = field(default_factory=list)

    def add(self, command: Command) -> Command:
        """Keep a command for the checks."""
        with self.lock:
            self.commands.append(command)
        return command


def lifecycle(client: Client, load: Load, trio: list[Partner], serial: int) -> None:
    """Propose, revise and have every party sign one agreement."""
    state, business, _ = trio
    tag = f"{client.name}-{serial}"
    proposal = load.add(Command("propose", f"propose-{tag}", None))
    answer = client.command(
        proposal, "/v1/agreements", content(trio, f"Chaos {proposal.key}"), state.headers()
    )
    if not finished(load, proposal, answer, 201):
        return
    agreement_id = str(proposal.agreement_id)
    revision = load.add(Command("revise", f"revise-{tag}", agreement_id))
    answer = client.command(
        revision,
        f"/v1/agreements/{agreement_id}/revisions",
        {**content(trio, f"Chaos {revision.key}"), "rationale": f"rationale {revision.key}"},
        business.headers(**{"If-Match": f'"{proposal.version}"'}),
    )
    if not finished(load, revision, answer, 201):
        return
    version = revision.version
    for signer in trio:
        payload = client.read(
            f"/v1/agreements/{agreement_id}/revisions/2/signing-payload", signer.headers()
        )
        signature = base64.b64encode(signer.key.sign(payload.content)).decode()
        signing = load.add(Command("sign", f"sign-{tag}-{signer.party_id}", agreement_id))
        answer = client.command(
            signing,
            f"/v1/agreements/{agreement_id}/signatures",
            {"revision": 2, "key_id": signer.key_id, "signature": signature},
            signer.headers(**{"If-Match": f'"{version}"'}),
        )
        if not finished(load, signing, answer, 201):
            return
        version = signing.version


def finished(load: Load, command: Command, answer: httpx.Response | None, expected: int) -> bool:
    """Whether a command was acknowledged as expected (else the lifecycle is abandoned)."""
    if answer is None:
        with load.lock:
            load.gave_up += 1
        return False
    if answer.status_code != expected:
        with load.lock:
            load.unexpected.append(
                f"{command.op} {command.key}: {answer.status_code} {answer.text}"
            )
        return False
    return True


def run_load_thread(client: Client, load: Load, trio: list[Partner]) -> None:
    """Run lifecycles until told to stop."""
    serial = 0
    while not load.stop.is_set():
        serial += 1
        try:
            lifecycle(client, load, trio, serial)
        except Exception as exc:  # a load thread must outlive any single failure (judged)
            with load.lock:
                load.thread_errors.append(f"{client.name}: {type(exc).__name__}: {exc}")
            time.sleep(0.5)


# ----------------------------------------------------------------------------------- set-up


def setup_partners(base_url: str, admin: str, count: int) -> list[list[Partner]]:
    """`count` trios of parties (state, business, civil society), each with token and key."""
    trios = []
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        auth = {"Authorization": f"Bearer {admin}"}
        for index in range(count):
            trio = []
            for sector in ("state", "business", "civil_society"):
                party = http.post(
                    "/v1/parties", json={"name": f"{sector} {index}", "sector": sector},
                    headers=auth,
                )  # fmt: skip
                party.raise_for_status()
                party_id = party.json()["id"]
                token = http.post(f"/v1/parties/{party_id}/tokens", headers=auth)
                token.raise_for_status()
                secret = token.json()["token"]
                key = Ed25519PrivateKey.generate()
                public_key, proof = key_registration(key, party_id)
                registered = http.post(
                    f"/v1/parties/{party_id}/signing-keys",
                    json={"public_key": public_key, "proof": proof},
                    headers={"Authorization": f"Bearer {secret}"},
                )
                registered.raise_for_status()
                trio.append(Partner(party_id, secret, key, registered.json()["key_id"]))
            trios.append(trio)
    return trios


# ----------------------------------------------------------------------------------- faults


def kill_api_processes(deployment: Deployment, cycles: int, rng: random.Random) -> int:
    """`kill -9` a random API process `cycles` times, waiting for its replacement each time."""
    done = 0
    for _ in range(cycles):
        time.sleep(rng.uniform(*KILL_PAUSE))
        pids = deployment.api_pids()
        if not pids:
            continue
        victim = rng.choice(pids)
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
            done += 1
        deployment.wait_for_api(API_PROCESSES)
    time.sleep(2)  # let the last replacement finish starting
    return done


def kill_worker_now_and_then(deployment: Deployment, times: int, stop: threading.Event) -> int:
    """`kill -9` the projection worker `times` times, restarting it after a pause."""
    done = 0
    for _ in range(times):
        if stop.wait(12):
            break
        deployment.kill_worker()
        done += 1
        time.sleep(2)
        deployment.start_worker()
    return done


@dataclass
class Probe:
    """One request sent while the database was down."""

    method: str
    status: int | None
    seconds: float
    problem_json: bool
    retry_after: bool


def probe_while_down(base_url: str, partner: Partner, stop: threading.Event) -> list[Probe]:
    """Send reads and writes until stopped; record how each was answered and how fast."""
    probes = []
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT * 2) as http:
        serial = 0
        while not stop.is_set():
            serial += 1
            for method, path, body in (
                ("GET", "/v1/agreements?limit=1", None),
                ("POST", "/v1/agreements", {"title": "probe"}),
            ):
                started = time.monotonic()
                status = None
                problem = retry = False
                with suppress(httpx.HTTPError):
                    headers = partner.headers(
                        **{"Idempotency-Key": f"probe-{threading.get_ident()}-{serial}"}
                    )
                    response = http.request(method, path, json=body, headers=headers)
                    status = response.status_code
                    problem = response.headers.get("content-type", "").startswith(
                        "application/problem+json"
                    )
                    retry = response.headers.get("Retry-After", "").isdigit()
                probes.append(Probe(method, status, time.monotonic() - started, problem, retry))
    return probes


def restart_postgres(deployment: Deployment, partner: Partner, how: str = "fast") -> dict[str, Any]:
    """Take PostgreSQL down under load — stopped cleanly (`fast`), stopped without a
    shutdown checkpoint (`immediate`: crash recovery at the next start) or killed
    (`kill9`: SIGKILL to the postmaster and all its processes) — probe the API while it is
    down, start it, and time the recovery."""
    pids_before = sorted(deployment.api_pids())
    if how == "kill9":
        deployment.postgres.crash()
    else:
        deployment.postgres.stop_server(how)  # type: ignore[arg-type]
    down_at = time.monotonic()
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=PROBES) as pool:
        probing = [
            pool.submit(probe_while_down, deployment.base_url, partner, stop) for _ in range(PROBES)
        ]
        time.sleep(POSTGRES_DOWN_SECONDS)
        stop.set()
        probes = [probe for future in probing for probe in future.result()]
    deployment.postgres.start_server()
    down_seconds = time.monotonic() - down_at
    up_at = time.monotonic()
    served_again = None
    with httpx.Client(base_url=deployment.base_url, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() - up_at < 60:
            with suppress(httpx.HTTPError):
                if http.get("/v1/agreements?limit=1", headers=partner.headers()).is_success:
                    served_again = time.monotonic() - up_at
                    break
            time.sleep(0.2)
    pids_after = sorted(deployment.api_pids())
    answered = [p for p in probes if p.status is not None]
    all_503 = bool(probes) and all(
        p.status == 503 and p.problem_json and p.retry_after for p in probes
    )
    slowest = max((p.seconds for p in probes), default=0.0)
    return {
        "how": how,
        "postgres_down_seconds": round(down_seconds, 1),
        "probes_while_down": len(probes),
        "probes_answered": len(answered),
        "probe_statuses": dict(Counter(str(p.status) for p in probes)),
        "all_probes_503_problem_json_with_retry_after": all_503,
        "slowest_probe_seconds": round(slowest, 2),
        "seconds_to_serve_again": None if served_again is None else round(served_again, 2),
        "api_processes_unchanged": pids_before == pids_after,
        "postgres_restart_recovered": (
            all_503
            and slowest < HUNG_SECONDS
            and served_again is not None
            and pids_before == pids_after
        ),
    }


# ----------------------------------------------------------------------------- the races


def concurrent_if_match(base_url: str, trio: list[Partner]) -> dict[str, Any]:
    """32 clients send the same If-Match revision at once: one success, 412 for the rest."""
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        proposed = http.post(
            "/v1/agreements", json=content(trio, "If-Match race"), headers=trio[0].headers()
        )
        proposed.raise_for_status()
    agreement_id = proposed.json()["id"]
    etag = proposed.headers["ETag"]
    barrier = threading.Barrier(IF_MATCH_CLIENTS)

    unavailable = 0

    def revise(index: int) -> int:
        nonlocal unavailable
        body = {**content(trio, f"Race {index}"), "rationale": f"racer {index}"}
        headers = trio[index % 3].headers(
            **{"If-Match": etag, "Idempotency-Key": f"race-{agreement_id}-{index}"}
        )
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
            barrier.wait(timeout=60)
            # A client told 503 (an overloaded pool) retries with the same key, as in the load.
            for _ in range(20):
                with suppress(httpx.HTTPError):
                    response = http.post(
                        f"/v1/agreements/{agreement_id}/revisions", json=body, headers=headers
                    )
                    if response.status_code not in RETRYABLE:
                        return response.status_code
                unavailable += 1
                time.sleep(backoff(None))
            return 0

    with ThreadPoolExecutor(max_workers=IF_MATCH_CLIENTS) as pool:
        statuses = list(pool.map(revise, range(IF_MATCH_CLIENTS)))
    counts = Counter(statuses)
    return {
        "concurrent_if_match_total": IF_MATCH_CLIENTS,
        "concurrent_if_match_successes": sum(n for s, n in counts.items() if 200 <= s < 300),
        "concurrent_if_match_412": counts.get(412, 0),
        "concurrent_if_match_statuses": {str(s): n for s, n in sorted(counts.items())},
        "concurrent_if_match_retried_after_503": unavailable,
    }


def concurrent_retries(deployment: Deployment, trio: list[Partner]) -> dict[str, Any]:
    """20 concurrent sends of one Idempotency-Key (fresh connections, so several processes)."""
    key = f"retry-storm-{time.time_ns()}"
    body = content(trio, f"Chaos {key}")
    barrier = threading.Barrier(IDEMPOTENT_RETRIES)

    def send(_index: int) -> tuple[int, str | None]:
        with httpx.Client(base_url=deployment.base_url, timeout=REQUEST_TIMEOUT) as http:
            barrier.wait(timeout=60)
            response = http.post(
                "/v1/agreements", json=body, headers=trio[0].headers(**{"Idempotency-Key": key})
            )
            identifier = response.json().get("id") if response.is_success else None
            return response.status_code, identifier

    with ThreadPoolExecutor(max_workers=IDEMPOTENT_RETRIES) as pool:
        answers = list(pool.map(send, range(IDEMPOTENT_RETRIES)))
    ids = {i for _, i in answers if i is not None}
    events = events_with_marker(deployment, key)
    return {
        "idempotent_retry_requests": IDEMPOTENT_RETRIES,
        "idempotent_retry_statuses": dict(Counter(str(s) for s, _ in answers)),
        "idempotent_retry_agreement_ids": len(ids),
        "idempotent_retry_events": len(events),
        "idempotent_retry_expected_events": 1,
    }


# ----------------------------------------------------------------------------- the checks


def events_table(conn: psycopg.Connection[Any]) -> str:
    """The name of the event table (the one with the sequencer's transaction-id column)."""
    row = conn.execute(
        "SELECT table_name FROM information_schema.columns "
        "WHERE column_name = 'tx_id' AND table_schema = 'public'"
    ).fetchone()
    if row is None:
        raise RuntimeError("no event table in the database")
    return str(row[0])


def stored_events(deployment: Deployment) -> dict[tuple[str, int], tuple[str, int | None, bytes]]:
    """Every stored event: (aggregate id, version) → (topic, position, state)."""
    with deployment.sql() as conn:
        rows = conn.execute(
            "SELECT originator_id::text, originator_version, topic, position, state "
            f"FROM {events_table(conn)}"
        ).fetchall()
    return {(str(r[0]), int(r[1])): (str(r[2]), r[3], bytes(r[4])) for r in rows}


def events_with_marker(deployment: Deployment, marker: str) -> list[tuple[str, int]]:
    """Events whose stored state contains `marker` (a key put into a title or rationale)."""
    with deployment.sql() as conn:
        rows = conn.execute(
            f"SELECT originator_id::text, originator_version FROM {events_table(conn)} "
            "WHERE position(convert_to(%s, 'UTF8') in state) > 0",
            (f'"Chaos {marker}"',),
        ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def check_store(deployment: Deployment, commands: list[Command]) -> dict[str, Any]:
    """Acknowledged commands against the store: lost events, wrong positions, duplicates."""
    events = stored_events(deployment)
    acknowledged = [c for c in commands if c.acknowledged]
    lost = []
    wrong_position = []
    for command in acknowledged:
        stored = events.get((str(command.agreement_id), int(command.version or 0)))
        if stored is None:
            lost.append(command.key)
        elif command.position is not None and stored[1] != command.position:
            wrong_position.append(command.key)
    # An idempotent request's marker (its key, in the title it proposed or revised to) may
    # appear in exactly one event that created that content.
    markers: Counter[str] = Counter()
    for topic, _, state in events.values():
        if not topic.endswith((".Proposed", ".Revised")):
            continue
        text = state.decode("utf-8", "replace")
        start = text.find('"Chaos ')
        if start >= 0:
            markers[text[start + 7 : text.find('"', start + 7)]] += 1
    keyed = {c.key for c in commands if c.op in ("propose", "revise")}
    duplicates = sum(n - 1 for marker, n in markers.items() if marker in keyed and n > 1)
    # A signature is an event per (agreement, revision, party): never two for one request.
    signatures: Counter[tuple[str, str]] = Counter()
    for (aggregate_id, _), (topic, _, state) in events.items():
        if topic.endswith(".Signed"):
            payload = json.loads(state)
            signatures[(aggregate_id, json.dumps(payload.get("actor"), sort_keys=True))] += 1
    duplicates += sum(n - 1 for n in signatures.values() if n > 1)
    unsequenced = sum(1 for _, position, _ in events.values() if position is None)
    return {
        "acknowledged": len(acknowledged),
        "acknowledged_replayed": sum(1 for c in acknowledged if c.replayed),
        "acknowledged_lost": len(lost),
        "acknowledged_lost_keys": lost[:20],
        "acknowledged_position_mismatches": len(wrong_position),
        "duplicates": duplicates,
        "stored_events": len(events),
        "stored_events_without_position": unsequenced,
    }


def wait_for_worker(deployment: Deployment, timeout: float = 120) -> bool:
    """Until every read model has reached the head of the log (the worker did the work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(psycopg.Error), deployment.sql() as conn:
            table = events_table(conn)
            head = conn.execute(f"SELECT COALESCE(MAX(position), 0) FROM {table}").fetchone()
            low = conn.execute("SELECT MIN(position) FROM tris_tracking").fetchone()
            if head and low and low[0] is not None and int(low[0]) >= int(head[0]):
                return True
        time.sleep(0.5)
    return False


def check_read_models(deployment: Deployment) -> dict[str, Any]:
    """The digest of the worker-built read models against a rebuild from the log."""
    caught_up = wait_for_worker(deployment)
    deployment.stop_worker()
    live = deployment.cli("projections", "digest", "--no-catch-up")
    deployment.cli("rebuild")
    rebuilt = deployment.cli("projections", "digest", "--no-catch-up")
    return {
        "worker_caught_up": caught_up,
        "readmodel_digest_live": live,
        "readmodel_digest_rebuilt": rebuilt,
        "readmodel_equals_rebuild": caught_up and live == rebuilt,
    }


# ------------------------------------------------------------------------------------ main


def in_background(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target` in a thread; its result lands in the returned dict under 'result'."""
    box: dict[str, Any] = {}

    def run() -> None:
        box["result"] = target()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def run_chaos(workdir: Path) -> dict[str, Any]:
    """The whole experiment; returns the result document."""
    rng = random.Random(SEED)
    started = time.monotonic()
    deployment = Deployment(workdir)
    log = RequestLog(LOG_DIR / "requests.ndjson")
    load = Load()
    sampler = ConnectionSampler(deployment)
    clients: list[Client] = []
    try:
        deployment.start()
        admin = deployment.cli("admin", "create-token", "--role", "admin").splitlines()[-1]
        trios = setup_partners(deployment.base_url, admin, CLIENTS + 2)
        sampler.start()
        threads = []
        for index in range(CLIENTS):
            client = Client(deployment.base_url, log, f"c{index}")
            clients.append(client)
            thread = threading.Thread(
                target=run_load_thread, args=(client, load, trios[index]), daemon=True
            )
            thread.start()
            threads.append(thread)

        worker_stop = threading.Event()
        worker_thread, worker_box = in_background(
            lambda: kill_worker_now_and_then(deployment, WORKER_KILLS, worker_stop)
        )
        kills = kill_api_processes(deployment, KILL_CYCLES, rng)
        worker_stop.set()
        worker_thread.join(timeout=60)
        if deployment.worker is None or deployment.worker.poll() is not None:
            deployment.start_worker()
        restart = restart_postgres(deployment, trios[CLIENTS][0])
        time.sleep(10)  # the load goes on after the restart
        durable = deployment.postgres.settings("fsync", "synchronous_commit", "full_page_writes")
        acknowledged_before_crashes = sum(c.acknowledged for c in list(load.commands))
        crashes = []
        for how in POSTGRES_CRASHES:
            crashes.append(restart_postgres(deployment, trios[CLIENTS][0], how))
            time.sleep(AFTER_CRASH_SECONDS)  # the load goes on after each recovery
        load.stop.set()
        for thread in threads:
            thread.join(timeout=COMMAND_DEADLINE + 30)

        races = concurrent_if_match(deployment.base_url, trios[CLIENTS + 1])
        retries = concurrent_retries(deployment, trios[CLIENTS + 1])
        sampler.stop.set()
        store = check_store(deployment, load.commands)
        read_models = check_read_models(deployment)
        with deployment.sql() as conn:
            row = conn.execute("SHOW max_connections").fetchone()
        max_connections = int(row[0]) if row else 0
    finally:
        for client in clients:
            client.close()
        sampler.stop.set()
        log.close()
        deployment.stop()

    processes = API_PROCESSES + 1 + 1  # API processes, the worker, one command-line run
    document: dict[str, Any] = {
        "kill_cycles": kills,
        "worker_kills": worker_box.get("result", 0),
        **store,
        **read_models,
        **restart,
        "postgres_settings": durable,
        "postgres_durable": all(value == "on" for value in durable.values()),
        "postgres_crashes": len(crashes),
        "postgres_crash_recovered": bool(crashes)
        and all(c["postgres_restart_recovered"] for c in crashes),
        "postgres_crash_results": crashes,
        "acknowledged_before_crashes": acknowledged_before_crashes,
        **races,
        **retries,
        "requests": sum(log.counts.values()),
        "requests_by_outcome": dict(sorted(log.counts.items())),
        "server_errors_500": log.counts.get("500", 0),
        "commands": len(load.commands),
        "commands_given_up": load.gave_up,
        "unexpected_answer_count": len(load.unexpected),
        "unexpected_answers": load.unexpected[:20],
        "load_thread_error_count": len(load.thread_errors),
        "load_thread_errors": load.thread_errors[:20],
        "api_processes": API_PROCESSES,
        "peak_connections": sampler.peak,
        "connection_bound": processes * CONNECTIONS_PER_PROCESS,
        "postgres_default_max_connections": 100,
        "postgres_max_connections_in_run": max_connections,
        "duration_seconds": round(time.monotonic() - started, 1),
        "request_log": str((LOG_DIR / "requests.ndjson").relative_to(REPO)),
    }
    document["passed"] = verdict(document)
    return document


def verdict(document: dict[str, Any]) -> bool:
    """Whether every guarantee held."""
    return bool(
        document["kill_cycles"] >= 20
        and document["worker_kills"] >= 1
        and document["acknowledged"] > 0
        and document["acknowledged_lost"] == 0
        and document["acknowledged_position_mismatches"] == 0
        and document["duplicates"] == 0
        and document["readmodel_equals_rebuild"]
        and document["postgres_restart_recovered"]
        # PostgreSQL crashed for real (SIGKILL, immediate stop) with fsync on, and every
        # acknowledged command survived (acknowledged_lost above counts across all of them).
        and document["postgres_durable"]
        and document["postgres_crashes"] >= len(POSTGRES_CRASHES)
        and document["postgres_crash_recovered"]
        and document["concurrent_if_match_successes"] == 1
        and document["concurrent_if_match_412"] == IF_MATCH_CLIENTS - 1
        and document["idempotent_retry_events"] == 1
        and document["server_errors_500"] == 0
        # A command given up, an answer other than the one expected (an idempotent retry
        # answered 409 or 422 among them) or a load thread's exception is a failure.
        and document["commands_given_up"] == 0
        and document["unexpected_answer_count"] == 0
        and not document["unexpected_answers"]
        and document["load_thread_error_count"] == 0
        and not document["load_thread_errors"]
        and document["peak_connections"] <= document["connection_bound"]
        and document["connection_bound"] < document["postgres_default_max_connections"]
        and document["duration_seconds"] < 600
    )


def main() -> int:
    """Run the experiment, write the result, and exit 0 only if every check held."""
    workdir = LOG_DIR / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    document = run_chaos(workdir)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
