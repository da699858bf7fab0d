"""The `tris` command line, run as a person runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.support.scenario import draft, make_world
from tests.support.server import server_key_file
from tris.application.access import Role
from tris.application.errors import IdempotencyKeyReusedError
from tris.application.integrity.keys import write_new_key
from tris.application.store import CommandContext
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.demo import DemoData, load_demo
from tris.domain.errors import (
    AgreementNotInForceError,
    CommitmentPartyError,
    DomainError,
    PartyNotFoundError,
    SelfConfirmationError,
)
from tris.domain.values import Sector
from tris.interfaces.cli.context import cli_reader
from tris.interfaces.cli.errors import exit_code_for
from tris.interfaces.cli.main import create_cli
from tris.interfaces.cli.serve import listening_socket
from tris.interfaces.http.app import create_app

REPO = Path(__file__).resolve().parents[2]


# -- helpers -------------------------------------------------------------------------------------


def run_tris(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m tris ARGS` in a fresh process, as a shell would."""
    env = {**os.environ, "TRIS_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "tris", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def invoke(*args: str, database_url: str) -> Any:
    """Run the command line in this process with TRIS_DATABASE_URL set."""
    return CliRunner().invoke(
        create_cli(), list(args), env={"TRIS_DATABASE_URL": database_url}, catch_exceptions=False
    )


@pytest.fixture(autouse=True)
def server_key(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL deployment names its server key file (it signs checkpoints and wraps
    the contact persons' keys); every command of a test uses the same one."""
    if "database_url" not in request.fixturenames:
        return
    if str(request.getfixturevalue("database_url")).startswith("postgresql"):
        monkeypatch.setenv("TRIS_SERVER_KEY_FILE", str(server_key_file(tmp_path)))


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build(load_settings(database_url=database_url, projections="inline"))
    yield built
    built.close()


# -- admin ---------------------------------------------------------------------------------------


def test_create_token_prints_only_a_token_that_authenticates(database_url: str) -> None:
    result = invoke("admin", "create-token", "--role", "admin", database_url=database_url)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    services = build(load_settings(database_url=database_url))
    try:
        principal = services.tokens.authenticate(lines[0])
    finally:
        services.close()
    assert principal is not None
    assert principal.role is Role.ADMIN


def test_an_operator_registers_a_network_with_its_register_identifier(database_url: str) -> None:
    registered = invoke(
        "admin", "register-party", "--name", "Bündnis für Soziale und Solidarische Ökonomie",
        "--sector", "civil_society", "--network", "--identifier", "DE-VR:VR 30001 B",
        database_url=database_url,
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    services = build(load_settings(database_url=database_url))
    try:
        party = services.parties.get(cli_reader(), registered.stdout.strip())
    finally:
        services.close()
    assert party["network"] is True
    assert party["identifiers"] == [{"scheme": "DE-VR", "id": "VR 30001 B"}]
    refused = invoke(
        "admin", "register-party", "--name", "X", "--sector", "business",
        "--identifier", "no scheme", database_url=database_url,
    )  # fmt: skip
    assert refused.exit_code == 2 and "scheme" in refused.output
    assert "Traceback" not in refused.output


def test_a_partner_token_is_bound_to_a_registered_party(database_url: str) -> None:
    registered = invoke(
        "admin",
        "register-party",
        "--name",
        "Nachbarschaftshaus Moabit e.V.",
        "--sector",
        "civil_society",
        "--region",
        "Berlin-Moabit",
        "--contact-name",
        "Tobias Brandt",
        "--contact-email",
        "tobias.brandt@nachbarschaftshaus-moabit.example.org",
        database_url=database_url,
    )
    assert registered.exit_code == 0, registered.output
    party_id = registered.stdout.strip()

    issued = invoke(
        "admin", "create-token", "--role", "partner", "--party", party_id, database_url=database_url
    )

    assert issued.exit_code == 0, issued.output
    services = build(load_settings(database_url=database_url))
    try:
        principal = services.tokens.authenticate(issued.stdout.strip())
        party = services.parties.get(principal, party_id) if principal else None
    finally:
        services.close()
    assert principal is not None and principal.party_id == party_id
    assert party is not None
    assert party["sector"] == "civil_society"
    assert party["contacts"][0]["name"] == "Tobias Brandt"


def test_a_revoked_token_is_listed_as_revoked_and_authenticates_nobody(database_url: str) -> None:
    token = invoke(
        "admin",
        "create-token",
        "--role",
        "auditor",
        "--label",
        "Prüfung",
        database_url=database_url,
    ).stdout.strip()
    listed = invoke("admin", "list-tokens", database_url=database_url)
    row = next(line for line in listed.stdout.splitlines() if "Prüfung" in line)
    token_id = row.split()[0]

    revoked = invoke("admin", "revoke-token", token_id, database_url=database_url)

    assert revoked.exit_code == 0, revoked.output
    after = invoke("admin", "list-tokens", database_url=database_url).stdout
    assert "revoked" in next(line for line in after.splitlines() if token_id in line)
    services = build(load_settings(database_url=database_url))
    try:
        assert services.tokens.authenticate(token) is None
    finally:
        services.close()


def test_domain_errors_exit_with_the_code_of_their_branch(database_url: str) -> None:
    no_party = invoke("admin", "create-token", "--role", "partner", database_url=database_url)
    unknown_party = invoke(
        "admin", "create-token", "--role", "partner", "--party", "nope", database_url=database_url
    )
    unknown_token = invoke("admin", "revoke-token", "nope", database_url=database_url)
    bad_website = invoke(
        "admin",
        "register-party",
        "--name",
        "Kiezbäckerei Schulz GmbH",
        "--sector",
        "business",
        "--website",
        "kein-link",
        database_url=database_url,
    )

    assert (no_party.exit_code, unknown_party.exit_code) == (2, 3)
    assert (unknown_token.exit_code, bad_website.exit_code) == (3, 2)
    for result in (no_party, unknown_party, unknown_token, bad_website):
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
    assert "website" in bad_website.stderr


def test_the_exit_code_table_follows_the_error_tree() -> None:
    assert exit_code_for(CommitmentPartyError("x")) == 2
    assert exit_code_for(PartyNotFoundError("x")) == 3
    assert exit_code_for(SelfConfirmationError("x")) == 4
    assert exit_code_for(AgreementNotInForceError("x")) == 5
    assert exit_code_for(IdempotencyKeyReusedError("x")) == 1
    assert exit_code_for(DomainError("x")) == 1


# -- configuration -------------------------------------------------------------------------------


def test_an_unsupported_database_url_is_one_line_on_stderr(tmp_path: Path) -> None:
    result = run_tris("admin", "list-tokens", database_url="mysql://x", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "TRIS_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_several_workers_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.append(app))

    result = invoke("serve", "--workers", "2", database_url=f"sqlite:///{tmp_path}/tris.db")

    assert result.exit_code == 2
    assert "PostgreSQL" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert started == []


def test_serve_on_postgresql_without_a_server_key_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.append(app))
    monkeypatch.delenv("TRIS_SERVER_KEY_FILE", raising=False)

    # Not even reachable: the key is checked before anything talks to the database.
    result = invoke("serve", database_url="postgresql://tris@127.0.0.1:1/tris")

    assert result.exit_code == 2
    assert "TRIS_SERVER_KEY_FILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert started == []


def test_several_api_processes_accept_connections_with_nagle_off() -> None:
    listener = listening_socket("127.0.0.1", 0)
    try:
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            # What every uvicorn worker inherits: no 40 ms wait for delayed ACKs.
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


def test_serve_with_several_workers_gives_each_process_a_socket_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "server-key.pem"
    write_new_key(key)
    monkeypatch.setenv("TRIS_SERVER_KEY_FILE", str(key))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen: dict[str, Any] = {}

    class Supervisor:
        """Stands in for uvicorn's: what it is given, and the port while it runs."""

        def __init__(self, config: Any, sockets: list[Any]) -> None:
            seen["workers"] = config.workers
            seen["sockets"] = sockets

        def run(self) -> None:
            # The processes find their shared writer in a private directory (ADR 38).
            directory = Path(os.environ["TRIS_WRITER_DIR"])
            seen["writer_dir"] = (directory, stat.S_IMODE(directory.stat().st_mode))
            # What a process gets when the share is sent to it: its own socket.
            own = [pickle.loads(pickle.dumps(share)) for share in seen["sockets"]]
            seen["options"] = [
                (
                    s.getsockname(),
                    s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT),
                    s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                )
                for s in own
            ]
            for s in own:
                s.close()
            with socket.socket() as other:
                try:
                    other.bind(("127.0.0.1", port))
                except OSError:
                    seen["reserved"] = True

    monkeypatch.setattr("tris.interfaces.cli.serve.Multiprocess", Supervisor)

    result = invoke(
        "serve", "--workers", "2", "--port", str(port), database_url="postgresql://t@127.0.0.1:1/t"
    )

    assert result.exit_code == 0, result.stderr
    assert seen["workers"] == 2
    directory, mode = seen["writer_dir"]
    assert mode == 0o700
    # Gone with the server, and not left behind for what this process does next.
    assert not directory.exists() and "TRIS_WRITER_DIR" not in os.environ
    [(address, reuse_port, no_delay)] = seen["options"]
    assert address == ("127.0.0.1", port) and reuse_port and no_delay
    # Nobody else could take the port while the processes ran; it is free again after.
    assert seen["reserved"]
    with socket.socket() as after:
        after.bind(("127.0.0.1", port))


# -- read models ---------------------------------------------------------------------------------


def projection_rows(output: str) -> dict[str, tuple[int, int, int]]:
    """`tris projections status` as {projection: (position, head, lag)}."""
    lines = output.strip().splitlines()
    assert lines[0].split() == ["projection", "position", "head", "lag", "state"]
    rows = {}
    for line in lines[1:]:
        if line.split()[-1] != "ok":
            break  # the failures' lines follow the table
        name, position, head, lag, _ = line.split()
        rows[name] = (int(position), int(head), int(lag))
    return rows


def test_a_read_model_failing_on_an_event_is_reported_not_retried_in_silence(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(load_settings(database_url=database_url))
    try:
        world = make_world(services)
        firm = world.add("Kiezbäckerei GmbH", Sector.BUSINESS)
        assoc = world.add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY)
        agreements = next(p for p in services.projections.projections if p.name == "agreements")

        def broken(cur: object, position: int, event: object) -> None:
            raise ValueError("cannot hold this")

        monkeypatch.setattr(agreements, "apply", broken)
        created = services.agreements.propose(firm.ctx(), draft(firm, assoc))
        assert created.status == 201  # the command stands; its events are safe
        failing = services.projections.failures()
        assert set(failing) == {"agreements"}
        assert failing["agreements"][1] == "Proposed"
        assert "ValueError: cannot hold this" in failing["agreements"][2]
        health = TestClient(create_app(services)).get("/healthz").json()
        assert health["status"] == "degraded"
        assert health["failing_read_models"][0]["projection"] == "agreements"

        status = invoke("projections", "status", database_url=database_url)
        assert status.exit_code == 1, status.output
        assert "FAILING at position" in status.stdout
        assert "agreements failed on Proposed" in status.stdout

        monkeypatch.undo()
        services.projections.catch_up()
        assert services.projections.failures() == {}
        healthy = TestClient(create_app(services)).get("/healthz").json()
        assert healthy == {"status": "ok", "database": "ok", "failing_read_models": []}
        assert invoke("projections", "status", database_url=database_url).exit_code == 0
    finally:
        services.close()


def test_projections_status_shows_the_lag_that_a_rebuild_clears(database_url: str) -> None:
    # Events written by a process that leaves the read models to workers, none running.
    lagging = build(
        load_settings(database_url=database_url, projections="worker", read_your_writes_timeout=0)
    )
    try:
        world = make_world(lagging)
        firm, assoc = (
            world.add("Kiezbäckerei GmbH", Sector.BUSINESS),
            world.add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY),
        )
        lagging.agreements.propose(firm.ctx(), draft(firm, assoc))
        head = lagging.projections.head()
    finally:
        lagging.close()

    behind = invoke("projections", "status", database_url=database_url)
    assert behind.exit_code == 0, behind.output
    assert projection_rows(behind.stdout) == {
        "parties": (0, head, head),
        "agreements": (0, head, head),
        "markets": (0, head, head),
        "memberships": (0, head, head),
    }

    rebuilt = invoke("rebuild", database_url=database_url)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilding" in rebuilt.output  # the progress bar's label
    assert f"rebuilt read models from {head} events" in rebuilt.stderr
    after = invoke("projections", "status", database_url=database_url)
    assert projection_rows(after.stdout) == {
        "parties": (head, head, 0),
        "agreements": (head, head, 0),
        "markets": (head, head, 0),
        "memberships": (head, head, 0),
    }
    digest = invoke("projections", "digest", database_url=database_url)
    assert digest.stdout.strip() in rebuilt.stderr


# -- demo ----------------------------------------------------------------------------------------


def test_demo_prints_the_timeline_of_every_agreement(database_url: str, tmp_path: Path) -> None:
    result = run_tris("demo", database_url=database_url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    for title in (
        "Marktplatz für Gute Geschäfte Moabit",
        "Netzwerk der Netzwerke",
        "Haus der Kooperation Moabit",
        "Die Soziale und Solidarische Ökonomie in Berlin sichtbar machen",
        "Geldspende für das Nachbarschaftsfest",
    ):
        assert f"== {title}" in out
    for words in ("signed", "in force", "terminated", "disputed", "declined", "withdrew"):
        assert words in out
    assert "Kiezbäckerei Schulz GmbH" in out


def test_the_demo_scenario_reaches_every_promised_state(services: Services) -> None:
    data = load_demo(services)
    admin = services.tokens.authenticate(data.admin_token)
    assert admin is not None and admin.role is Role.ADMIN

    views = {a.handle: services.agreements.get(admin, a.agreement_id) for a in data.agreements}
    histories = {
        a.handle: services.agreements.history(admin, a.agreement_id) for a in data.agreements
    }

    assert {handle: view["status"] for handle, view in views.items()} == {
        "marktplatz": "completed",
        "netzwerke": "terminated",
        "haus": "in_force",
        "sichtbarkeit": "proposed",
        "spende": "withdrawn",
    }
    marktplatz = views["marktplatz"]
    assert marktplatz["sector_mix"] == "trisectoral"
    assert marktplatz["in_force_revision"] == 3
    kinds = {c["kind"] for c in marktplatz["content"]["commitments"]}
    assert {"time", "expertise", "logistics", "in_kind"} <= kinds
    assert "funding" not in kinds
    assert all(c["status"] == "fulfilled" for c in marktplatz["content"]["commitments"])
    types = [item["type"] for item in histories["marktplatz"]]
    for expected in ("Revised", "Concluded", "AmendmentProposed", "AmendmentAdopted", "Completed"):
        assert expected in types
    assert views["netzwerke"]["termination_reason"]
    assert "disputed" in {f["status"] for f in views["haus"]["fulfilments"]}
    assert "Declined" in [item["type"] for item in histories["spende"]]
    assert {p.sector for p in data.parties} == {"state", "business", "civil_society"}
    for history in histories.values():
        for item in history:
            assert item["actor"]["party_id"] and item["actor"]["token_id"]
            assert item["actor_name"]


def test_a_newcomer_signs_the_open_proposal_with_the_demo_keys(services: Services) -> None:
    data: DemoData = load_demo(services)
    proposal = data.agreement("sichtbarkeit")

    for handle in ("senat", "nachbarschaftshaus"):
        party = data.party(handle)
        principal = services.tokens.authenticate(party.token)
        assert principal is not None and principal.party_id == party.party_id
        raw = base64.b64decode(party.private_key)
        assert len(raw) == 32
        payload = services.agreements.signing_payload(principal, proposal.agreement_id, 1)
        signature = Ed25519PrivateKey.from_private_bytes(raw).sign(payload)
        view = services.agreements.sign(
            CommandContext(principal.actor),
            proposal.agreement_id,
            1,
            party.key_id,
            base64.b64encode(signature).decode(),
        ).body

    assert view["status"] == "in_force"


# -- serve --demo --------------------------------------------------------------------------------


def test_serve_demo_welcomes_on_an_empty_database_and_loads_nothing_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "server-key.pem"  # required on PostgreSQL, checked before serving
    write_new_key(key)
    monkeypatch.setenv("TRIS_SERVER_KEY_FILE", str(key))
    started: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.append((app, kwargs)))

    first = invoke("serve", "--port", "8123", "--demo", database_url=database_url)
    second = invoke("serve", "--port", "8123", "--demo", database_url=database_url)

    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8123/docs" in first.stdout
    assert "curl" in first.stdout
    services = build(load_settings(database_url=database_url))
    try:
        admin = services.tokens.authenticate(_admin_token(first.stdout))
        assert admin is not None
        parties = services.parties.list(admin)
    finally:
        services.close()
    assert len(parties) == 15  # six of the agreements, seven of the markets, two networks
    for party in parties:
        assert party["name"] in first.stdout and party["id"] in first.stdout
    private_keys = [
        line.split(":", 1)[1].strip()
        for line in first.stdout.splitlines()
        if "private key:" in line
    ]
    assert [len(base64.b64decode(key)) for key in private_keys] == [32] * len(parties)

    assert second.exit_code == 0, second.output
    assert "tris admin create-token --role admin" in second.stdout
    assert "Admin token" not in second.stdout
    assert [app for app, _ in started] == ["tris.interfaces.http.app:server_app"] * 2
    assert started[0][1] == {
        "factory": True,
        "host": "127.0.0.1",
        "port": 8123,
        "workers": 1,
        "reload": False,
        # Graceful shutdown waits for requests in flight, bounded by their deadline.
        "timeout_graceful_shutdown": 35,
    }


def _admin_token(welcome: str) -> str:
    line = next(line for line in welcome.splitlines() if "Admin token:" in line)
    return line.split(":", 1)[1].strip()


def test_serve_demo_lets_a_newcomer_sign_over_http(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TRIS_DATABASE_URL": f"sqlite:///{tmp_path}/tris.db"}
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "serve.out"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "tris", "serve", "--port", str(port), "--demo"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        docs = _wait_until_served(f"{base}/docs", server)
        welcome = log.read_text()
        senat = _welcome_party(welcome, "Senatsverwaltung für Wirtschaft, Energie und Betriebe")
        agreement_id = welcome.split("/v1/agreements/", 1)[1].split("/", 1)[0]
        headers = {"Authorization": f"Bearer {senat['token']}"}
        portal = httpx.get(f"{base}/", timeout=10)
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            payload = client.get(f"/v1/agreements/{agreement_id}/revisions/1/signing-payload")
            etag = client.get(f"/v1/agreements/{agreement_id}").headers["ETag"]
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(senat["private key"]))
            signed = client.post(
                f"/v1/agreements/{agreement_id}/signatures",
                headers={"If-Match": etag},
                json={
                    "revision": 1,
                    "key_id": senat["key id"],
                    "signature": base64.b64encode(key.sign(payload.content)).decode(),
                },
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert docs.status_code == 200
    assert f"{base}/docs" in welcome
    assert f"Portal:       {base}/" in welcome
    assert portal.status_code == 200 and '<html lang="de">' in portal.text
    assert "Auditor token: tris_" in welcome
    assert payload.status_code == 200
    assert signed.status_code == 201, signed.text
    assert senat["party"] in {p["party_id"] for p in signed.json()["parties"] if p["signed"]}


def _wait_until_served(url: str, server: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tris serve exited with {server.returncode}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} was not served within 60 s")


def _welcome_party(welcome: str, name: str) -> dict[str, str]:
    """The id, token, key id and private key printed under a party's name."""
    lines = welcome.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(name + " ("))
    fields = {}
    for line in lines[start + 1 : start + 5]:
        label, value = line.strip().split(":", 1)
        fields[label] = value.strip()
    fields["party"] = fields["id"]
    return fields


def test_the_demo_markets_are_evaluated_by_tris_market_report(services: Services) -> None:
    data = load_demo(services)
    past, live = data.markets
    url = services.settings.database_url

    table = invoke("market", "report", past.market_id, database_url=url)
    assert table.exit_code == 0, table.output
    assert "Marktplatz für Gute Geschäfte Neukölln 2026 (marketplace, closed)" in table.stdout
    for line in ("deals            3", "notarised        2", "fulfilment rate  0.6667 (66.7 %)"):
        assert line in table.stdout
    assert "Zirkusworkshop für die Azubis des Malerbetriebs" in table.stdout  # to follow up

    report = invoke("market", "report", past.market_id, "--format", "json", database_url=url)
    assert report.exit_code == 0, report.output
    document = json.loads(report.stdout)
    assert document["stats"]["completed"] == 2 and document["stats"]["concluded"] == 3
    assert [i["title"] for i in document["follow_ups"]["items"]] == [
        "Zirkusworkshop für die Azubis des Malerbetriebs"
    ]
    assert document["market"]["status"] == "closed"

    open_market = invoke("market", "report", live.market_id, database_url=url)
    assert open_market.exit_code == 0 and "(action_day, open)" in open_market.stdout
    assert "follow-ups: from 14 days after the market closes" in open_market.stdout

    missing = invoke("market", "report", "no-such-market", database_url=url)
    assert missing.exit_code == 3
    assert "no market no-such-market" in missing.output
    assert "Traceback" not in missing.output
