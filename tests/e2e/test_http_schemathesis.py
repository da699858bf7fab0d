"""Property-based checks of the whole API against its own OpenAPI document, in process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.http import build_services
from tris.application.access import Role
from tris.application.store import CommandContext
from tris.domain.party import PartyDetails
from tris.domain.values import OPERATOR, Actor, Sector
from tris.interfaces.http.app import create_app


@pytest.fixture(params=["admin", "partner"])
def http_token(request: pytest.FixtureRequest, database_url: str) -> Iterator[dict[str, Any]]:
    """An app on each backend and a token of each writing role."""
    services = build_services(database_url)
    admin = services.tokens.issue(Role.ADMIN)
    token = admin.token
    if request.param == "partner":
        ctx = CommandContext(Actor(OPERATOR, admin.token_id))
        party = services.parties.register(ctx, PartyDetails("Bezirksamt Mitte", Sector.STATE))
        token = services.tokens.issue(Role.PARTNER, party.body["id"]).token
    yield {"app": create_app(services), "token": token}
    services.close()


SEED = 20260601
MAX_EXAMPLES = 8
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def test_the_api_answers_every_generated_request_as_documented(
    http_token: dict[str, Any],
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", http_token["app"])
    headers = {"Authorization": f"Bearer {http_token['token']}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    document = schema.raw_schema

    for operation in operations:
        for mode in MODES:

            @seed(SEED)
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: Any) -> None:
                case.call_and_validate(
                    headers=headers, checks=[not_a_server_error, response_schema_conformance]
                )

            try:
                exercise()
            except Unsatisfiable:
                # Only an operation without any input (e.g. /healthz) may have no invalid
                # request; every operation must have valid ones. Nothing is dropped silently.
                spec = document["paths"][operation.path][operation.method.lower()]
                inputs = [p for p in spec.get("parameters", []) if p.get("in") != "header"]
                if mode is GenerationMode.POSITIVE or inputs or "requestBody" in spec:
                    failures.append(
                        f"{operation.label} ({mode.value}): no request could be generated"
                    )
                continue
            except Exception as failure:
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)
