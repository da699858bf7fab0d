"""Hostile input against a real `tris serve` on PostgreSQL: every phase, every check.

Schemathesis runs as its own command (its pytest plugin does not load with this pytest)
against the served OpenAPI document: the examples, coverage, fuzzing and stateful phases,
all checks (server errors, schema and status conformance, negative data rejection,
ignored authentication, object-level authorization between two partners, …), with a fixed
seed. Identities come from a Web Fuzzing Commons auth file holding a token of every role:
for each operation schemathesis settles on the first role the API admits, and it replays
reads of one partner's objects as the other partner.

The hooks in `tests/fuzz/hooks.py` keep the seeded tokens and signing keys valid for the
whole run (a revocation of one is sent for an unknown id; the fuzzer's own tokens and keys
are revoked for real), complete half of the partners' positive proposals, revisions,
signatures and key registrations into ones the API accepts, and log every answer. From
that log the test fails when a seeded token was ever refused (401), when an operation
called with the seeded tokens never got past 401/403, when schemathesis reports operations
that returned only 401/403, or when the partner operations that create state never
succeeded.

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
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fuzz_criteria import auth_findings, status_counts
from tests.support.server import LiveServer

SEED = 20260601
DEFAULT_EXAMPLES = 200
PHASES = "examples,coverage,fuzzing,stateful"
# Roles in the order schemathesis tries them for an operation; partner-b is the peer that
# must never see partner-a's objects.
ROLES = ("partner-a", "admin", "auditor", "researcher", "partner-b")
RUN_TIMEOUT_SECONDS = 4 * 3600
HOOKS = Path(__file__).with_name("hooks.py")
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


def write_state(server: LiveServer, directory: Path, traffic: Path) -> Path:
    """What the hooks need: the seeded tokens, ids and keys, and where to log answers."""
    state = {
        "base_url": server.base_url,
        "traffic": str(traffic),
        "tokens": server.tokens,
        "protected_token_ids": server.token_ids,
        "protected_key_ids": server.key_ids,
        "partners": server.partners,
        "outsider_party_ids": server.outsider_party_ids,
    }
    path = directory / "state.json"
    path.write_text(json.dumps(state, indent=2))
    return path


def read_traffic(path: Path) -> list[dict[str, Any]]:
    """The answers the hooks logged, one JSON object a line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def traffic_summary(traffic: list[dict[str, Any]]) -> str:
    """A table of the answers to the seeded tokens per operation, and the protected calls."""
    counts = status_counts(traffic)
    columns = ("2xx", "3xx", "4xx", "401", "403", "5xx")
    lines = [f"{'operation':<72}" + "".join(f"{c:>7}" for c in columns)]
    for op, statuses in sorted(counts.items()):
        lines.append(f"{op:<72}" + "".join(f"{statuses[c]:>7}" for c in columns))
    protected = Counter(e["op"] for e in traffic if "protected" in e)
    lines.append(f"revocations of seeded ids sent for unknown ids: {dict(protected)}")
    return "\n".join(lines)


def seeded_tokens_refused(server: LiveServer) -> list[str]:
    """Roles whose seeded token no longer authenticates."""
    refused = []
    for role, token in server.tokens.items():
        answer = httpx.get(
            f"{server.base_url}/v1/parties",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        if answer.status_code == 401:
            refused.append(role)
    return refused


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
        traffic_path = log_dir / f"traffic-{attempt}.jsonl"
        traffic_path.unlink(missing_ok=True)
        state = write_state(live_server, tmp_path, traffic_path)
        done = subprocess.run(
            schemathesis_command(live_server, config, report_path),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "TRIS_FUZZ_STATE": str(state)},
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        output = done.stdout + done.stderr
        (log_dir / f"schemathesis-{attempt}.log").write_text(output)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        traffic = read_traffic(traffic_path)
        summary = traffic_summary(traffic)
        (log_dir / f"traffic-summary-{attempt}.txt").write_text(summary + "\n")
        print(f"answers to the seeded tokens, run {attempt}:\n{summary}")
        if done.returncode == 0 or attempt == 2 or not crashed_inside_schemathesis(report):
            break
        print(f"schemathesis crashed inside itself; running once more:\n{findings(output)}")
    server_log = live_server.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[-20_000:]
    assert done.returncode == 0, findings(output)[:15_000] + "\n[…]\n" + output[-10_000:]
    problems = auth_findings(traffic, report)
    assert not problems, "\n".join(problems) + "\n\n" + summary
    refused = seeded_tokens_refused(live_server)
    assert not refused, f"seeded tokens no longer valid after the run: {refused}"
