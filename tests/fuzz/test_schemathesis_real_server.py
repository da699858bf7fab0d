"""Hostile input against a real `tris serve` on PostgreSQL: every phase, every check.

Schemathesis runs as its own command (its pytest plugin does not load with this pytest)
against the served OpenAPI document: the examples, coverage, fuzzing and stateful phases,
all checks (server errors, schema and status conformance, negative data rejection,
ignored authentication, object-level authorization between two partners, …), with a fixed
seed. Identities come from a Web Fuzzing Commons auth file holding a token of every role:
for each operation schemathesis settles on the first role the API admits, and it replays
reads of one partner's objects as the other partner.

200 cases per operation (`TRIS_FUZZ_EXAMPLES` overrides it): about four minutes on two
cores, so `make test` runs it in full; `make fuzz` runs it alone.
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


def test_no_generated_request_breaks_the_served_api(
    live_server: LiveServer, tmp_path: Path
) -> None:
    config = write_configuration(live_server, tmp_path)
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{live_server.base_url}/openapi.json",
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
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout + done.stderr
    (Path(os.environ.get("TRIS_FUZZ_LOG_DIR", tmp_path)) / "schemathesis.log").write_text(output)
    server_log = live_server.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[-20_000:]
    assert done.returncode == 0, output[-30_000:]
