"""`tris verify`: a bundle offline (no server, no database) and the whole store, and the
auditor's standalone script of docs/verification.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.integrity import RawDatabase, Story, full_story, integrity_settings
from tests.support.scenario import make_world
from tris.application.access import Principal, Role
from tris.bootstrap import Services, build
from tris.domain.proofs.signed import bundle_payload, render_bundle
from tris.interfaces.cli.main import create_cli

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "verify_bundle.py"
GUIDE = REPO / "docs" / "verification.md"
AUDITOR = Principal("auditor-token", Role.AUDITOR)
# If `tris verify BUNDLE` touched a database it would fail: nothing listens there.
NO_DATABASE = "postgresql://nobody:nothing@127.0.0.1:9/nowhere"


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build(integrity_settings(database_url, tmp_path), today=lambda: date(2026, 6, 1))
    yield built
    built.close()


@pytest.fixture
def story(services: Services) -> Story:
    story = full_story(make_world(services))
    services.integrity.issue_checkpoint()
    return story


@pytest.fixture
def bundle_file(services: Services, story: Story, tmp_path: Path) -> Path:
    path = tmp_path / "evidence.json"
    path.write_bytes(render_bundle(services.integrity.evidence(AUDITOR, story.agreement_id)))
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command in a fresh process, as a shell runs it, with no reachable database."""
    env = {**os.environ, "TRIS_DATABASE_URL": NO_DATABASE, "PYTHONPATH": str(REPO)}
    env.pop("TRIS_SERVER_KEY_FILE", None)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def audit(services: Services) -> Any:
    """`tris verify --store` on the test's database, in this process."""
    env = {"TRIS_DATABASE_URL": services.settings.database_url}
    if services.settings.server_key_file:
        env["TRIS_SERVER_KEY_FILE"] = services.settings.server_key_file
    return CliRunner().invoke(create_cli(), ["verify", "--store"], env=env)


def flipped(path: Path, index: int) -> Path:
    damaged = bytearray(path.read_bytes())
    damaged[index] ^= 0x01
    out = path.with_name("damaged.json")
    out.write_bytes(bytes(damaged))
    return out


def test_a_bundle_verifies_offline_and_each_check_is_printed(
    bundle_file: Path, services: Services, tmp_path: Path
) -> None:
    pin = services.integrity.server_key()["fingerprint"]
    result = run("-m", "tris", "verify", str(bundle_file), "--server-key", pin, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("PASS  ") for line in lines[:-1])
    assert any(line.startswith("PASS  inclusion proofs") for line in lines)
    assert any(line.startswith("PASS  signature of revision 3 by party") for line in lines)
    assert lines[-1].startswith("VERIFIED")


def test_a_bundle_with_one_flipped_byte_fails(bundle_file: Path, tmp_path: Path) -> None:
    size = bundle_file.stat().st_size
    for index in (10, size // 3, size // 2, size - 40):
        result = run("-m", "tris", "verify", str(flipped(bundle_file, index)), cwd=tmp_path)
        assert result.returncode == 1, (index, result.stdout)
        assert "FAIL  " in result.stdout
        assert result.stdout.splitlines()[-1].startswith("NOT VERIFIED")


def test_a_bundle_from_another_server_key_fails_when_the_key_is_pinned(
    bundle_file: Path, tmp_path: Path
) -> None:
    other = "ab" * 32
    result = run("-m", "tris", "verify", str(bundle_file), "--server-key", other, cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL  server key" in result.stdout


def test_a_key_id_is_refused_as_a_pin(
    bundle_file: Path, services: Services, tmp_path: Path
) -> None:
    key_id = services.integrity.server_key()["key_id"]
    result = run("-m", "tris", "verify", str(bundle_file), "--server-key", key_id, cwd=tmp_path)
    assert result.returncode == 2
    assert "is a key id, not a pin" in result.stderr


def test_without_an_anchor_a_consistent_bundle_is_unanchored_not_verified(
    bundle_file: Path, tmp_path: Path
) -> None:
    """The attack: quantities multiplied by 100, everything re-signed with the forger's own
    party keys and server key, printed VERIFIED. Without an anchor it cannot be told apart
    from the genuine bundle, so neither is VERIFIED."""
    result = run("-m", "tris", "verify", str(bundle_file), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("UNANCHORED")
    assert "VERIFIED:" not in result.stdout.replace("NOT VERIFIED", "")


def test_trusted_keys_come_from_a_file(
    bundle_file: Path, services: Services, tmp_path: Path
) -> None:
    key = services.integrity.server_key()
    trusted = tmp_path / "trusted-keys"
    trusted.write_text(f"# the servers we trust\n{'cd' * 32}\n{key['public_key']}  # Berlin\n")
    result = run(
        "-m", "tris", "verify", str(bundle_file), "--trusted-keys", str(trusted), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("VERIFIED")
    trusted.write_text(f"{'cd' * 32}\n")
    other = run(
        "-m", "tris", "verify", str(bundle_file), "--trusted-keys", str(trusted), cwd=tmp_path
    )
    assert other.returncode == 1


def test_verify_needs_a_bundle_or_store_but_not_both(bundle_file: Path, tmp_path: Path) -> None:
    assert run("-m", "tris", "verify", cwd=tmp_path).returncode == 2
    assert run("-m", "tris", "verify", str(bundle_file), "--store", cwd=tmp_path).returncode == 2
    missing = run("-m", "tris", "verify", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_the_store_audit_passes_an_untouched_store(services: Services, story: Story) -> None:
    result = audit(services)
    assert result.exit_code == 0, result.output
    assert "STORE INTACT" in result.stdout
    assert re.search(r"audited \d+ events of 4 aggregates", result.stdout)


def test_the_store_audit_reports_changed_data(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    version = raw.version_of_type(story.agreement_id, "FulfilmentRecorded")
    position = raw.position_of(story.agreement_id, version)
    raw.replace_in_state(story.agreement_id, version, "Vier Stunden", "Vierzig Stunden")
    result = audit(services)
    assert result.exit_code == 1
    expected = f"CHANGED     aggregate {story.agreement_id}, version {version}, position {position}"
    assert expected in result.stdout


def test_the_store_audit_reports_a_deleted_event(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    version = raw.version_of_type(story.agreement_id, "Concluded")
    raw.delete_event(story.agreement_id, version)
    result = audit(services)
    assert result.exit_code == 1
    assert f"REMOVED     aggregate {story.agreement_id}, version {version}" in result.stdout


def test_the_store_audit_reports_an_inserted_event(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    copied = raw.version_of_type(story.agreement_id, "FulfilmentRecorded")
    version = raw.insert_copy(story.agreement_id, copied)
    position = raw.position_of(story.agreement_id, version)
    result = audit(services)
    assert result.exit_code == 1
    expected = f"INSERTED    aggregate {story.agreement_id}, version {version}, position {position}"
    assert expected in result.stdout


def test_the_store_audit_reports_swapped_events(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    signed = [v for v, t, _, _ in raw.events(story.agreement_id) if t.endswith(".Signed")]
    raw.swap_positions(
        raw.position_of(story.agreement_id, signed[0]),
        raw.position_of(story.agreement_id, signed[1]),
    )
    result = audit(services)
    assert result.exit_code == 1
    assert result.stdout.count("REORDERED") == 2


def test_the_store_audit_reports_a_rewritten_chain(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    raw.rewrite_chain(
        story.agreement_id, lambda v, s: s.replace(b'"quantity":"14"', b'"quantity":"1"')
    )
    result = audit(services)
    assert result.exit_code == 1
    assert "CHECKPOINT" in result.stdout
    assert "SIGNATURE" in result.stdout
    assert "CHANGED" not in result.stdout  # the chain itself was made consistent


def test_the_guide_holds_the_script_it_describes() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    assert blocks == [SCRIPT.read_text()]


def test_the_auditors_script_verifies_a_real_bundle_and_fails_a_damaged_one(
    bundle_file: Path, services: Services, tmp_path: Path
) -> None:
    pin = services.integrity.server_key()["fingerprint"]
    good = run(str(SCRIPT), str(bundle_file), pin, cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[-1] == "VERIFIED"
    assert "FAIL" not in good.stdout

    for index in (0, bundle_file.stat().st_size // 2, bundle_file.stat().st_size - 1):
        bad = run(str(SCRIPT), str(flipped(bundle_file, index)), cwd=tmp_path)
        assert bad.returncode == 1, index
        assert bad.stdout.splitlines()[-1] == "NOT VERIFIED"
    assert run(str(SCRIPT), str(bundle_file), "0123456789abcdef", cwd=tmp_path).returncode == 1
    unanchored = run(str(SCRIPT), str(bundle_file), cwd=tmp_path)
    assert unanchored.returncode == 3
    assert unanchored.stdout.splitlines()[-1].startswith("UNANCHORED")

    moved = dict(reversed(list(json.loads(bundle_file.read_bytes()).items())))
    rearranged = tmp_path / "rearranged.json"
    rearranged.write_text(json.dumps(moved, indent=2, ensure_ascii=False) + "\n")
    assert run(str(SCRIPT), str(rearranged), cwd=tmp_path).returncode == 1


def test_the_auditors_script_anchors_each_signers_key_as_tris_verify_does(
    bundle_file: Path, services: Services, tmp_path: Path
) -> None:
    """An operator holding the server key moves a party's signature onto a key the party
    never registered (the key events left out): both verifiers refuse it."""
    pin = services.integrity.server_key()["fingerprint"]
    bundle = json.loads(bundle_file.read_bytes())
    signer = bundle["revisions"][-1]["signatures"][0]["party_id"]
    keep = [i for i, e in enumerate(bundle["key_events"]) if e["aggregate_id"] != signer]
    bundle["key_events"] = [bundle["key_events"][i] for i in keep]
    bundle["key_inclusion_proofs"] = [bundle["key_inclusion_proofs"][i] for i in keep]
    next(p for p in bundle["parties"] if p["party_id"] == signer)["keys"] = []
    bundle["bundle_signature"] = services.integrity.log.server_key.sign(bundle_payload(bundle))
    forged = tmp_path / "forged.json"
    forged.write_bytes(render_bundle(bundle))

    script = run(str(SCRIPT), str(forged), pin, cwd=tmp_path)
    assert script.returncode == 1
    assert f"FAIL key of {signer}" in script.stdout
    cli = run("-m", "tris", "verify", str(forged), "--server-key", pin, cwd=tmp_path)
    assert cli.returncode == 1 and "signer keys" in cli.stdout
