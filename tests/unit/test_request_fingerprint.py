"""The Idempotency-Key fingerprint: one value per request, however its body is written."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from tris.interfaces.http.deps import NOT_JSON, request_fingerprint, url_path

KEY = b"k" * 32
BODY = {"title": "Kiezküche", "parties": ["a", "b"], "quantity": "10"}


def fingerprint(body: bytes, parsed: object = NOT_JSON) -> str:
    return request_fingerprint(KEY, "POST", "/v1/agreements", body, parsed=parsed)


def test_a_body_parsed_by_the_caller_gives_the_fingerprint_of_its_bytes() -> None:
    raw = json.dumps(BODY).encode()
    assert fingerprint(raw, json.loads(raw)) == fingerprint(raw)


def test_the_same_json_written_otherwise_is_the_same_request() -> None:
    spaced = json.dumps(BODY, indent=2, sort_keys=True).encode()
    assert fingerprint(spaced) == fingerprint(json.dumps(BODY).encode())


def test_a_body_that_is_not_json_is_fingerprinted_by_its_bytes() -> None:
    assert fingerprint(b"not json") != fingerprint(b"other text")
    assert fingerprint(b"not json") != fingerprint(b"")
    assert fingerprint(b"[" * 100_000) != fingerprint(b"[" * 99_999)


def test_json_that_is_null_is_not_an_empty_body() -> None:
    assert fingerprint(b"null", None) == fingerprint(b"null")
    assert fingerprint(b"null") != fingerprint(b"")


@settings(max_examples=2000)
@given(path=st.text(min_size=0, max_size=40).map(lambda text: "/" + text))
def test_the_fingerprinted_path_is_the_path_of_the_requests_url(path: str) -> None:
    # Fingerprints kept before `url_path` took the path from the URL Starlette builds: a
    # retry of a request made then must still match it.
    scope = {"type": "http", "path": path, "headers": [(b"host", b"tris.example:8000")]}
    assert url_path(scope) == Request(scope).url.path
