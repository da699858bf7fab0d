"""The fuzz run's own criteria, on logged traffic: they catch a run that tested only auth."""

from __future__ import annotations

from typing import Any

from tests.support.fuzz_criteria import MUST_SUCCEED, auth_findings


def answer(op: str, role: str | None, status: int) -> dict[str, Any]:
    return {"op": op, "role": role, "auth": role is not None, "status": status}


def healthy() -> list[dict[str, Any]]:
    traffic = [answer(op, "partner-a", 201) for op in MUST_SUCCEED]
    traffic += [
        answer("GET /v1/tokens", "partner-a", 403),
        answer("GET /v1/tokens", "admin", 200),
        answer("DELETE /v1/tokens/{token_id}", "admin", 404),
        answer("GET /v1/events", None, 401),
    ]
    return traffic


def test_a_run_that_reached_the_api_passes() -> None:
    assert auth_findings(healthy(), {"warnings": {"missing_auth": []}}) == []


def test_a_seeded_token_revoked_mid_run_fails_it() -> None:
    # The old run: the stateful phase revoked the seeded tokens, every later partner
    # request answered 401, and the proposal had succeeded only before that.
    traffic = [*healthy(), *[answer("POST /v1/agreements", "partner-a", 401)] * 30]
    found = auth_findings(traffic, {})
    assert any("refused with 401" in line and "partner-a: 30" in line for line in found)


def test_an_operation_answering_only_401_or_403_fails_it() -> None:
    traffic = [*healthy(), answer("POST /v1/checkpoints", "admin", 403)]
    found = auth_findings(traffic, {})
    assert found == [
        "POST /v1/checkpoints answered the seeded tokens only 401/403: {'4xx': 1, '403': 1}"
    ]


def test_the_report_warning_about_only_401_or_403_fails_it() -> None:
    report = {"warnings": {"missing_auth": ["POST /v1/agreements"]}}
    found = auth_findings(healthy(), report)
    assert found == ["schemathesis: operations returned only 401/403: ['POST /v1/agreements']"]


def test_partner_writes_that_never_succeed_fail_it() -> None:
    traffic = [e for e in healthy() if e["op"] != "POST /v1/agreements"]
    traffic.append(answer("POST /v1/agreements", "partner-a", 422))
    found = auth_findings(traffic, {})
    assert found == ["POST /v1/agreements never succeeded with a seeded partner token"]
