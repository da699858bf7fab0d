"""`tris serve` as a real process: a whole agreement lifecycle over TCP, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.http import Api, content, if_match
from tests.support.server import served


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A running `tris serve` on a free port, with an admin token; stopped afterwards.

    On PostgreSQL it runs two API processes, as production does.
    """
    workers = 1 if database_url.startswith("sqlite") else 2
    with served(database_url, tmp_path, workers) as running:
        yield running


def test_a_served_api_carries_an_agreement_through_its_whole_life(
    server: tuple[str, str],
) -> None:
    base_url, admin_token = server
    with httpx.Client(base_url=base_url, timeout=60) as client:
        api = Api(client, admin_token)
        state = api.partner("Bezirksamt Mitte", "state")
        business = api.partner("Kiezbäckerei GmbH", "business")
        civil = api.partner("Nachbarschaftsverein Moabit e.V.", "civil_society")

        proposed = api.propose(state, content(business, civil, state))
        assert proposed.status_code == 201, proposed.text
        agreement_id = proposed.json()["id"]
        assert proposed.headers["Location"] == f"/v1/agreements/{agreement_id}"
        assert if_match(proposed) == '"1"'

        in_force = api.conclude(agreement_id, 1, state, business, civil)
        assert in_force["status"] == "in_force"

        recorded = api.post(
            business,
            agreement_id,
            "commitments/C1/fulfilments",
            {"quantity": "10", "delivered_on": "2026-05-01", "note": "gekocht"},
        )
        assert recorded.status_code == 201, recorded.text
        done = api.post(civil, agreement_id, f"fulfilments/{recorded.json()['id']}/confirmation")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"

        types = [item["type"] for item in api.history(agreement_id)]
        assert types[0] == "Proposed" and types[-1] == "Completed"
        assert client.get("/openapi.json").status_code == 200
