"""A command's answer: its status, body and headers, with those its route set before."""

from __future__ import annotations

import json

from fastapi import Response

from tris.application.store import Outcome
from tris.interfaces.http.responses import respond


def route_response() -> Response:
    """The `Response` a route is given, as FastAPI makes it (no length of its own)."""
    response = Response()
    del response.headers["content-length"]
    return response


def test_a_new_answer_keeps_the_routes_headers_and_sets_its_own_once() -> None:
    route = route_response()
    route.headers["ETag"] = '"1"'  # set before, replaced by the answer's own
    route.headers["Cache-Control"] = "no-store"
    outcome = Outcome({"id": "a", "version": 2}, status=201, position=7)
    answer = respond(route, outcome, location="/v1/agreements/a")
    assert answer.status_code == 201
    assert json.loads(answer.body) == {"id": "a", "version": 2}
    names = [name for name, _ in answer.headers.items()]
    assert sorted(names) == sorted(set(names))  # no header twice
    assert answer.headers["etag"] == '"2"'
    assert answer.headers["location"] == "/v1/agreements/a"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.body)
    assert "7" in answer.headers.values()  # the position, for min_position


def test_a_replayed_answer_goes_back_through_the_routes_model() -> None:
    route = route_response()
    body = {"id": "a", "version": 2}
    assert respond(route, Outcome(body, status=201, replayed=True)) == body
    assert route.status_code == 201
    assert route.headers["etag"] == '"2"'
