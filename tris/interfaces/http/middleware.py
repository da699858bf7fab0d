"""Pure ASGI middleware: the request body size limit, the URL's characters and parameters."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tris.interfaces.http.errors import (
    PROBLEM_MEDIA_TYPE,
    ControlCharacterError,
    ControlCharacterPathError,
    HTTPProblemError,
    MalformedHeaderError,
    PayloadTooLargeError,
    RepeatedQueryParameterError,
    problem_bytes,
    status_for,
)

# C0 and C1 control characters, lone surrogates and noncharacters: never part of an id, a
# filter or a cursor (the texts of request bodies are checked by the domain).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class URLCheckMiddleware:
    """Answers 422 when the path or a query parameter holds a control character, or a
    query parameter is given more than once.

    A NUL in `?q=` or in a path segment must not reach the database (PostgreSQL refuses it
    in text, which would answer 500), and no id, filter or cursor of TRIS holds one. No
    parameter of TRIS takes a list: `?status=a&status=b` would otherwise be answered for
    the last value alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or run the application."""
        if scope["type"] == "http":
            error = _url_problem(scope)
            if error is not None:
                await _send_problem(send, scope, error)
                return
        await self.app(scope, receive, send)


def _url_problem(scope: Scope) -> HTTPProblemError | None:
    """What is wrong with the request's URL, or None: a forbidden character in the path or
    a query parameter (whichever parameter it is in), else a parameter given twice. The
    query string is parsed once."""
    if _FORBIDDEN.search(str(scope.get("path", ""))):
        return ControlCharacterPathError(
            "the path holds a control character; none is allowed in the URL: no such resource"
        )
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    seen: set[str] = set()
    repeated: str | None = None
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
            shown = _FORBIDDEN.sub("?", name)[:40]
            return ControlCharacterError(
                f"query parameter {shown!r} holds a control character; none is allowed in the URL"
            )
        if repeated is None and name in seen:
            repeated = name[:40]
        seen.add(name)
    if repeated is not None:
        return RepeatedQueryParameterError(
            f"query parameter {repeated!r} is given more than once; give it once"
        )
    return None


class BodySizeLimitMiddleware:
    """Answers 413 when a request body exceeds `max_bytes`.

    Content-Length is checked before the application runs; the streamed size is counted
    too, since a chunked body announces no length. Once the limit is crossed the
    application sees a disconnect and whatever it answers is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application with a size-checked `receive`."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            error = MalformedHeaderError("Content-Length is not a non-negative integer")
            await _send_problem(send, scope, error)
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send, scope)
            return
        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or response_started:
                raise
        if exceeded and not response_started:
            await self._too_large(send, scope)

    async def _too_large(self, send: Send, scope: Scope) -> None:
        error = PayloadTooLargeError(f"the request body is larger than {self.max_bytes} bytes")
        await _send_problem(send, scope, error)


def _content_length(scope: Scope) -> int | None:
    """The declared Content-Length, None when absent, -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                return -1
            return int(text)
    return None


async def _send_problem(send: Send, scope: Scope, error: HTTPProblemError) -> None:
    body = problem_bytes(error, str(scope.get("path", "")))
    await send(
        {
            "type": "http.response.start",
            "status": status_for(error),
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
