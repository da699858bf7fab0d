"""`tris export` and `tris replay`, run as a person runs them: SQLite → PostgreSQL and back."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from tests.support.postgres import random_database_name
from tris.application.integrity.keys import write_new_key
from tris.bootstrap import build
from tris.config import load_settings, parse_database_url
from tris.demo import load_demo
from tris.domain.proofs.chain import GENESIS, event_hash
from tris.interfaces.cli.main import create_cli

REPO = Path(__file__).resolve().parents[2]


def env_for(database_url: str, tmp_path: Path) -> dict[str, str]:
    """TRIS's environment for one database (PostgreSQL needs a server key to audit)."""
    key = tmp_path / "server.key"
    if not key.exists():
        write_new_key(key)
    return {"TRIS_DATABASE_URL": database_url, "TRIS_SERVER_KEY_FILE": str(key)}


# The demo's events: its six parties' agreements, the markets with their seven parties, and
# the networks of networks with two more.
DEMO_EVENTS = 158


def invoke(*args: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(create_cli(), list(args), env=env, catch_exceptions=False)


@pytest.fixture
def source(database_url: str, tmp_path: Path) -> str:
    """A database of each backend holding the Berlin demo."""
    key = env_for(database_url, tmp_path)["TRIS_SERVER_KEY_FILE"]
    settings = load_settings(database_url=database_url, projections="inline", server_key_file=key)
    services = build(settings)
    try:
        load_demo(services)
        assert services.store.log.head() == DEMO_EVENTS
    finally:
        services.close()
    return database_url


@pytest.fixture
def other_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of the other backend than `database_url`."""
    backend, _ = parse_database_url(database_url)
    if backend == "postgres":
        yield f"sqlite:///{tmp_path}/replica.db"
        return
    cluster: Any = request.getfixturevalue("postgres_cluster")
    name = random_database_name()
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        with contextlib.suppress(psycopg.Error, OSError):
            cluster.drop_database(name)


def test_an_export_replayed_into_the_other_backend_has_the_same_digest(
    source: str, other_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "events.ndjson"
    exported = invoke("export", "--out", str(export), env=env_for(source, tmp_path))
    assert exported.exit_code == 0, exported.output
    assert f"exported {DEMO_EVENTS} events (positions 1 to {DEMO_EVENTS})" in exported.stderr
    assert "exporting" in exported.stderr  # the progress bar (its label alone off a terminal)
    lines = export.read_text(encoding="utf-8").split("\n")
    assert json.loads(lines[0])["format"] == "tris-export/1"
    assert len([line for line in lines[1:] if line]) == DEMO_EVENTS

    replayed = invoke("replay", str(export), "--database", other_url, env=env_for(source, tmp_path))
    assert replayed.exit_code == 0, replayed.output
    assert (
        f"replayed {DEMO_EVENTS} events" in replayed.stderr
        and "every hash verified" in replayed.stderr
    )

    source_digest = invoke("projections", "digest", env=env_for(source, tmp_path))
    target_digest = invoke("projections", "digest", env=env_for(other_url, tmp_path))
    assert source_digest.exit_code == 0 and target_digest.exit_code == 0
    assert replayed.stdout.strip() == source_digest.stdout.strip() == target_digest.stdout.strip()

    audited = invoke("verify", "--store", env=env_for(other_url, tmp_path))
    assert audited.exit_code == 0, audited.output
    assert "STORE INTACT" in audited.stdout


def test_a_replay_into_a_store_that_holds_events_is_refused(source: str, tmp_path: Path) -> None:
    export = tmp_path / "events.ndjson"
    assert invoke("export", "--out", str(export), env=env_for(source, tmp_path)).exit_code == 0
    refused = invoke("replay", str(export), "--database", source, env=env_for(source, tmp_path))
    assert refused.exit_code == 5
    assert "Replay target is not empty" in refused.stderr


def test_an_export_after_a_position_holds_only_the_later_events(
    source: str, other_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "tail.ndjson"
    result = invoke("export", "--out", str(export), "--after", "50", env=env_for(source, tmp_path))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").split("\n") if line]
    assert lines[0]["after"] == 50 and lines[0]["source_head"] == DEMO_EVENTS
    assert [line["position"] for line in lines[1:]] == list(range(51, DEMO_EVENTS + 1))

    refused = invoke("replay", str(export), "--database", other_url, env=env_for(source, tmp_path))
    assert refused.exit_code == 2
    assert "Partial export" in refused.stderr


def test_a_file_that_is_no_export_is_refused(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url, tmp_path)
    garbage = tmp_path / "garbage.ndjson"
    garbage.write_bytes(b"\xff\xfe not text")
    for path, message in (
        (garbage, "not UTF-8"),
        (tmp_path / "missing.ndjson", "cannot read"),
    ):
        refused = invoke("replay", str(path), env=env)
        assert refused.exit_code == 2, refused.output
        assert message in refused.stderr


def test_the_replayed_digest_is_all_a_script_reads_on_standard_output(
    source: str, tmp_path: Path
) -> None:
    export = tmp_path / "events.ndjson"
    assert invoke("export", "--out", str(export), env=env_for(source, tmp_path)).exit_code == 0
    target = f"sqlite:///{tmp_path}/by-script.db"
    done = subprocess.run(
        [sys.executable, "-m", "tris", "replay", str(export), "--database", target],
        capture_output=True,
        text=True,
        env={**os.environ, **env_for(source, tmp_path), "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 64 and "\n" not in done.stdout.strip()
    assert "replaying" in done.stderr


GOLDEN = REPO / "tests" / "golden" / "export-v1.ndjson"


def forged_export(tmp_path: Path, topic: str) -> Path:
    """The golden export's header and first event, its topic replaced and its hash made
    anew, so that every other check of the file passes."""
    header, first = GOLDEN.read_text(encoding="utf-8").split("\n")[:2]
    event = json.loads(first)
    event["stored"]["topic"] = topic
    event["hash"] = event_hash(
        event["aggregate_id"], 1, topic, event["stored"]["state"].encode(), GENESIS
    )
    path = tmp_path / "forged.ndjson"
    path.write_text(f"{header}\n{json.dumps(event)}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("topic", ["this:s", "os:system", "tris.domain.party:Party.Nope"])
def test_replay_refuses_an_event_type_not_of_tris_before_importing_it(
    database_url: str, tmp_path: Path, topic: str
) -> None:
    """The attack: an export naming `this:s` printed the Zen of Python during a replay."""
    sys.modules.pop("this", None)
    forged = forged_export(tmp_path, topic)
    env = env_for(database_url, tmp_path)

    result = CliRunner().invoke(create_cli(), ["replay", str(forged)], env=env)

    assert result.exit_code == 2, result.output
    assert "Foreign event type" in result.stderr
    assert "not one of TRIS's own" in result.stderr
    assert "Traceback" not in result.output
    assert "this" not in sys.modules
    services = build(load_settings(database_url=database_url))
    try:
        assert services.store.log.head() == 0  # nothing was written
    finally:
        services.close()
