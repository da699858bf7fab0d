"""What a fuzzing run must show: operations that must succeed, and how authorization held."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

# Partner operations that create the state the others work on: each must succeed at least
# once with a seeded partner token, or the run never got past the front door. (Signatures
# succeed too, but how often depends on the server's state at each moment: 6 to 27 times
# in runs with one seed. They are not required, so that the check cannot fail by chance.)
MUST_SUCCEED = (
    "POST /v1/agreements",
    "POST /v1/agreements/{agreement_id}/revisions",
    "POST /v1/parties/{party_id}/signing-keys",
)


def status_counts(traffic: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per operation, answers to seeded tokens by status class (`2xx`, …) and exact 401/403."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in traffic:
        if "status" not in entry or entry.get("role") is None:
            continue
        status = int(entry["status"])
        counts[entry["op"]][f"{status // 100}xx"] += 1
        if status in (401, 403):
            counts[entry["op"]][str(status)] += 1
    return counts


def auth_findings(traffic: list[dict[str, Any]], report: dict[str, Any]) -> list[str]:
    """Why the run did not really test the API with the seeded identities (empty: it did).

    * A seeded token answered 401: it was revoked (or broken) during the run, and every
      later request of that role tested nothing but authentication.
    * An operation called with seeded tokens got nothing but 401/403 from them.
    * Schemathesis itself warned that operations returned only 401/403.
    * A partner operation that creates state never succeeded.
    """
    found: list[str] = []
    refused = Counter(
        (e["op"], e["role"]) for e in traffic if e.get("role") and e.get("status") == 401
    )
    if refused:
        listed = ", ".join(f"{op} as {role}: {n}" for (op, role), n in sorted(refused.items()))
        found.append(f"seeded tokens were refused with 401: {listed}")
    counts = status_counts(traffic)
    for op, statuses in sorted(counts.items()):
        if statuses["401"] + statuses["403"] == sum(
            n for key, n in statuses.items() if key.endswith("xx")
        ):
            found.append(f"{op} answered the seeded tokens only 401/403: {dict(statuses)}")
    missing_auth = (report.get("warnings") or {}).get("missing_auth") or []
    if missing_auth:
        found.append(f"schemathesis: operations returned only 401/403: {missing_auth}")
    partners = [e for e in traffic if str(e.get("role", "")).startswith("partner-")]
    for op in MUST_SUCCEED:
        if not any(e["op"] == op and 200 <= int(e["status"]) < 300 for e in partners):
            found.append(f"{op} never succeeded with a seeded partner token")
    return found
