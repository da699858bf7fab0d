"""The request deadline: a 503 for an answer that has not started in time, nothing else."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from tris.interfaces.http.deadline import RequestDeadlineMiddleware

SCOPE: Scope = {"type": "http", "method": "POST", "path": "/v1/agreements"}


def run(app: Any, seconds: float) -> list[Message]:
    """What the middleware around `app` sends for one request."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    # On a thread of its own: a test before may have left this thread's loop running.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(
            asyncio.run, RequestDeadlineMiddleware(app, seconds)(SCOPE, receive, send)
        ).result()
    return sent


def test_an_answer_not_started_in_time_is_a_503_with_retry_after() -> None:
    cancelled = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        await send({"type": "http.response.start", "status": 201, "headers": []})

    sent = run(slow, 0.05)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 503
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert b"retry-after" in headers
    assert json.loads(sent[1]["body"])["status"] == 503
    assert cancelled == [True]  # the late answer is never sent


def test_an_answer_that_has_started_is_not_cut_by_the_deadline() -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.2)  # well past the deadline
        await send({"type": "http.response.body", "body": b"all of it"})

    sent = run(streaming, 0.05)
    assert [m.get("status", m.get("body")) for m in sent] == [200, b"all of it"]


def test_an_answer_in_time_passes_unchanged() -> None:
    async def quick(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    assert [m.get("status", m.get("body")) for m in run(quick, 5)] == [201, b"{}"]


def test_the_applications_own_timeout_is_not_taken_for_the_deadline() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise TimeoutError("a timeout of the application's own")

    with pytest.raises(TimeoutError, match="own"):
        run(failing, 5)
