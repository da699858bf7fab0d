"""Fixtures for HTTP tests: the ASGI app on each backend, and a small client of the v1 API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.answers import check_answers
from tests.support.http import Api, Trio, build_services
from tris.application.access import Role
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """Services on a fresh database of each backend."""
    built = build_services(database_url)
    yield built
    built.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    """The ASGI application over the test services."""
    return create_app(services)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process client of the application; every 2xx JSON answer is checked against
    its route's model."""
    with TestClient(app) as test_client:
        test_client.event_hooks["response"].append(check_answers(app))
        yield test_client


@pytest.fixture
def admin_token(services: Services) -> str:
    """A fresh admin token (issued as the CLI would)."""
    return services.tokens.issue(Role.ADMIN).token


@pytest.fixture
def api(client: TestClient, admin_token: str) -> Api:
    """The v1 API driven as an admin and its partners would."""
    return Api(client, admin_token)


@pytest.fixture
def trio(api: Api) -> Trio:
    """A district office, a bakery, an association, and an uninvolved foundation."""
    return Trio(
        state=api.partner("Bezirksamt Mitte", "state", region="Berlin-Mitte"),
        business=api.partner("Kiezbäckerei GmbH", "business"),
        civil=api.partner(
            "Nachbarschaftsverein Moabit e.V.",
            "civil_society",
            contacts=[{"name": "Erika Muster", "email": "erika@example.org", "phone": "030 1"}],
        ),
        outsider=api.partner("Stiftung Außenstehend", "civil_society"),
    )
