"""Pure ASGI middleware: a deadline for every request to start its answer."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tris.interfaces.http.errors import PROBLEM_MEDIA_TYPE, ServiceUnavailableError, problem_bytes

log = logging.getLogger(__name__)


class RequestDeadlineMiddleware:
    """Answers 503 (problem+json, Retry-After) when no answer has started within `seconds`.

    A route that runs in a worker thread cannot be stopped from outside; it is left to
    finish (its database statements are bounded by their own timeouts) and whatever it
    answers later is dropped. A client told 503 may retry: a POST with the same
    Idempotency-Key is applied at most once. A streamed answer that has started is not cut.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application, answering for it when it misses the deadline.

        The deadline is a timer on the request's own task (`asyncio.timeout`), not a task
        of its own to wait for: a second task and its wait cost every request as much CPU
        as the deadline's whole purpose. An answer that starts turns the timer off.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.seconds)

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                deadline.reschedule(None)  # a started answer is not cut
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, guarded_send)
        except TimeoutError:
            if not deadline.expired():
                raise  # the application's own, not the deadline's
        else:
            return
        log.warning(
            "%s %s missed its %.0f s deadline", scope["method"], scope["path"], self.seconds
        )
        error = ServiceUnavailableError(
            f"the request did not complete within {self.seconds:g} s; retry after Retry-After "
            "seconds (a POST with the same Idempotency-Key is applied at most once)"
        )
        body = problem_bytes(error, str(scope.get("path", "")))
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
