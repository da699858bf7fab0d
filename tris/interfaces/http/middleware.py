"""Pure ASGI middleware: the request body size limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tris.interfaces.http.errors import (
    PROBLEM_MEDIA_TYPE,
    HTTPProblemError,
    MalformedHeaderError,
    PayloadTooLargeError,
    problem_bytes,
    status_for,
)


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
