"""A real `tris serve` process on PostgreSQL, with data and a token of every role."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.support.http import Api, Partner, content
from tests.support.postgres import PostgresServer, random_database_name
from tests.support.server import LiveServer, free_port, serve_command, stop, wait_until_served
from tris.application.integrity.keys import write_new_key

REPO = Path(__file__).resolve().parents[2]


def _admin_token(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tris", "admin", "create-token", "--role", "admin"],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass(frozen=True)
class Seed:
    """The tokens of every role and the ids of the objects made for the fuzzer."""

    tokens: dict[str, str]
    agreement_ids: list[str]
    party_ids: list[str]
    token_ids: list[str]
    outsider_party_ids: list[str]
    key_ids: list[str]
    partners: dict[str, dict[str, str]]


def _partner_secrets(partner: Partner) -> dict[str, str]:
    raw = partner.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {
        "party_id": partner.party_id,
        "key_id": partner.key_id,
        "private_key": base64.b64encode(raw).decode(),
    }


def _seed(api: Api) -> Seed:
    """Partners A and B sharing an agreement, two of A's without B, an auditor, a researcher.

    C has signed A's agreement without B; A's agreement with D stays a proposal (D never
    signs). Party C (with a token and a key of its own) and party D (neither) are the
    outsiders the completed proposals of A and B name.
    """
    first = api.partner("Bezirksamt Mitte", "state", region="Berlin-Mitte")
    second = api.partner(
        "Nachbarschaftsverein Moabit e.V.",
        "civil_society",
        contacts=[{"name": "Erika Muster", "email": "erika@example.org", "phone": "030 1"}],
    )
    third = api.partner("Kiezbäckerei GmbH", "business")
    fourth = api.register_party("Stadtteilbibliothek Moabit", "state")
    shared = api.propose(first, content(second, first))
    assert shared.status_code == 201, shared.text
    private = api.propose(first, content(third, first, title="Nur A und C"))
    assert private.status_code == 201, private.text
    # C signs A's agreement: the first valid signature of A puts it in force.
    signed = api.sign(third, private.json()["id"], 1)
    assert signed.status_code == 201, signed.text
    # D never signs: this one stays a proposal for A to revise and sign all run long.
    pending = content(third, first, title="A und D")
    pending["parties"] = [first.party_id, fourth["id"]]
    pending["commitments"][0]["debtor"] = fourth["id"]
    opened = api.propose(first, pending)
    assert opened.status_code == 201, opened.text
    tokens = {
        "admin": api.admin_token,
        "partner-a": first.token,
        "partner-b": second.token,
        "auditor": api.issue_token("auditor"),
        "researcher": api.issue_token("researcher"),
    }
    agreements = [shared.json()["id"], private.json()["id"], opened.json()["id"]]
    parties = [first.party_id, second.party_id, third.party_id]
    listed = api.client.get("/v1/tokens", headers=api.admin)
    assert listed.status_code == 200, listed.text
    token_ids = [item["token_id"] for item in listed.json()["items"]]
    partners = {"partner-a": _partner_secrets(first), "partner-b": _partner_secrets(second)}
    outsiders = [third.party_id, fourth["id"]]
    key_ids = [first.key_id, second.key_id, third.key_id]
    return Seed(tokens, agreements, parties, token_ids, outsiders, key_ids, partners)


@pytest.fixture(scope="module")
def live_server(
    postgres_cluster: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`tris serve` on a fresh PostgreSQL database; stopped (gracefully) afterwards."""
    workdir = tmp_path_factory.mktemp("fuzz")
    name = random_database_name()
    database_url = postgres_cluster.create_database(name)
    key = workdir / "server.key"
    write_new_key(key)
    env = {
        **os.environ,
        "TRIS_DATABASE_URL": database_url,
        "TRIS_SERVER_KEY_FILE": str(key),
        "TRIS_RATE_LIMIT_PER_MINUTE": "1000000",
        "TRIS_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "1000000",
        # The fuzzer reads a live event stream to its end: end it soon.
        "TRIS_STREAM_MAX_SECONDS": "2",
        "PYTHONPATH": str(REPO),
    }
    admin = _admin_token(env, workdir)
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            serve_command(port), env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(base_url, process, log)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            seed = _seed(Api(client, admin))
        yield LiveServer(
            base_url, seed.tokens, log, seed.agreement_ids, seed.party_ids, seed.token_ids,
            seed.outsider_party_ids, seed.key_ids, seed.partners,
        )  # fmt: skip
    finally:
        stop(process, signal.SIGTERM, timeout=60)
        postgres_cluster.drop_database(name)
