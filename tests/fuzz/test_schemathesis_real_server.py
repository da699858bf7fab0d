"""Hostile input against a real `tris serve` on PostgreSQL: every phase, every check.

Schemathesis runs as its own command (its pytest plugin does not load with this pytest)
against the served OpenAPI document: the examples, coverage, fuzzing and stateful phases,
all checks (server errors, schema and status conformance, negative data rejection,
ignored authentication, object-level authorization between two partners, …), with a fixed
seed. Identities come from a Web Fuzzing Commons auth file holding a token of every role:
for each operation schemathesis settles on the first role the API admits, and it replays
reads of one partner's objects as the other partner.

200 cases per operation (`TRIS_FUZZ_EXAMPLES` overrides it): about four minutes on two
cores, so `make test` runs it in full; `make fuzz` runs it alone. A failed run shows its
ERRORS and FAILURES sections first; a run in which only schemathesis itself crashed
("Runtime Error", no finding) is repeated once with the same seed and must then pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.conftest import LiveServer

SEED = 20260601
DEFAULT_EXAMPLES = 200
PHASES = "examples,coverage,fuzzing,stateful"
# Roles in the order schemathesis tries them for an operation; partner-b is the peer that
# must never see partner-a's objects.
ROLES = ("partner-a", "admin", "auditor", "researcher", "partner-b")
RUN_TIMEOUT_SECONDS = 4 * 3600
# Schema-valid requests may still break a rule no JSON Schema can state: a cursor the API
# never issued, a tree size or log position beyond the log, parties that are not
# registered, an If-Match naming an old version (412), an Idempotency-Key reused with
# another body (422). The check's defaults plus those two statuses; 5xx stay failures
# (the not_a_server_error check reports them).
POSITIVE_ANSWERS = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
# The contract answers a write without If-Match with 428 Precondition Required (RFC 6585),
# the status made for exactly that; the check's defaults plus 428.
MISSING_HEADER_ANSWERS = ["400", "401", "403", "406", "415", "422", "428"]

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def examples_per_operation() -> int:
    """Cases per operation for this run (TRIS_FUZZ_EXAMPLES, else the default)."""
    return int(os.environ.get("TRIS_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))


def write_configuration(server: LiveServer, directory: Path) -> Path:
    """The auth file with a token of every role and the schemathesis configuration."""
    auth = {
        "schemaVersion": "1.0.0",
        "auth": [
            {
                "name": role,
                "fixedHeaders": [
                    {"name": "Authorization", "value": f"Bearer {server.tokens[role]}"}
                ],
            }
            for role in ROLES
        ],
    }
    auth_path = directory / "auth.json"
    auth_path.write_text(json.dumps(auth, indent=2))
    config = directory / "schemathesis.toml"
    config.write_text(
        "[auth.wfc]\n"
        f"path = {json.dumps(str(auth_path))}\n"
        'peers = ["partner-a", "partner-b"]\n'
        "\n[checks.positive_data_acceptance]\n"
        f"expected-statuses = {json.dumps(POSITIVE_ANSWERS)}\n"
        "\n[checks.missing_required_header]\n"
        f"expected-statuses = {json.dumps(MISSING_HEADER_ANSWERS)}\n"
        # Half the cases name a real agreement or party, so they reach past the 404.
        "\n[dictionaries.agreements]\n"
        f"values = {json.dumps(server.agreement_ids)}\n"
        "\n[dictionaries.parties]\n"
        f"values = {json.dumps(server.party_ids)}\n"
        "\n[parameters]\n"
        '"path.agreement_id" = { dictionary = "agreements", probability = 0.5 }\n'
        '"path.party_id" = { dictionary = "parties", probability = 0.5 }\n'
    )
    return config


def schemathesis_command(server: LiveServer, config: Path, report: Path) -> list[str]:
    """The whole run: every phase and check, fixed seed, a JSON report."""
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--phases",
        PHASES,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(examples_per_operation()),
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--suppress-health-check",
        "all",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--output-truncate",
        "false",
    ]


def findings(output: str) -> str:
    """The ERRORS and FAILURES sections of a run's output (what a reader needs first)."""
    lines = output.splitlines()
    kept: list[str] = []
    keep = False
    for line in lines:
        title = line.strip(" =")
        if line.startswith("====="):
            keep = title in {"ERRORS", "FAILURES"}
        if keep:
            kept.append(line)
    return "\n".join(kept)


def crashed_inside_schemathesis(report: dict[str, object]) -> bool:
    """True when the run found nothing wrong with the API but the tool itself crashed.

    Schemathesis files an exception of its own that it cannot classify (not a network
    error, not a check failure, not a schema problem) as "Runtime Error". Such a crash
    says nothing about TRIS; any other error or any failure does.
    """
    errors = report.get("errors") or []
    failures = report.get("failures") or []
    return (
        bool(errors)
        and not failures
        and all(isinstance(e, dict) and e.get("title") == "Runtime Error" for e in errors)
    )


def test_no_generated_request_breaks_the_served_api(
    live_server: LiveServer, tmp_path: Path
) -> None:
    config = write_configuration(live_server, tmp_path)
    log_dir = Path(os.environ.get("TRIS_FUZZ_LOG_DIR", tmp_path))
    # One rerun, same seed, only when the fuzzer itself crashed and found nothing: the
    # second run must then pass on its own, and both outputs are kept.
    for attempt in (1, 2):
        report_path = tmp_path / f"report-{attempt}.json"
        done = subprocess.run(
            schemathesis_command(live_server, config, report_path),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        output = done.stdout + done.stderr
        (log_dir / f"schemathesis-{attempt}.log").write_text(output)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        if done.returncode == 0 or attempt == 2 or not crashed_inside_schemathesis(report):
            break
        print(f"schemathesis crashed inside itself; running once more:\n{findings(output)}")
    server_log = live_server.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[-20_000:]
    assert done.returncode == 0, findings(output)[:15_000] + "\n[…]\n" + output[-10_000:]
