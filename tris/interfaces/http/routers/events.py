"""The open event stream: pages, an NDJSON stream of the rest of the log, an export for
`tris replay`, and a live SSE tail."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tris.application.access import Principal, Role
from tris.application.opendata.export import export_lines, header_line, start_export
from tris.application.opendata.notifier import Revalidation
from tris.application.opendata.stream import PAGE_LIMIT, EventStream
from tris.bootstrap import Services
from tris.domain.errors import PermissionDeniedError
from tris.interfaces.http.deps import CurrentPrincipal, ServicesDep, from_principal
from tris.interfaces.http.errors import MalformedHeaderError, RateLimitedError
from tris.interfaces.http.responses import problems
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.events import EventPage

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 1000
LIVE_BATCH = 200
NDJSON_CHUNK = 200

SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string"},
        "data": {"type": "string"},
        "retry": {"type": "integer"},
    },
}

router = APIRouter(prefix="/v1/events", tags=["event stream"], route_class=OffLoopRoute)


@from_principal
def require_stream_reader(principal: CurrentPrincipal) -> Principal:
    """Auditors, researchers and admins read the global stream; partners do not."""
    if principal.role is Role.PARTNER:
        raise PermissionDeniedError(
            "a partner token does not read the global event stream; auditor, researcher "
            "and admin tokens do"
        )
    return principal


StreamReader = Annotated[Principal, Depends(require_stream_reader)]
After = Annotated[
    int, Query(ge=0, le=2**62, description="Start after this global position (0: the start)")
]


def wants_ndjson(accept: str | None) -> bool:
    """True when the client asked for NDJSON and prefers it to JSON."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = weight
    ndjson = weights.get(NDJSON, 0.0)
    return ndjson > 0 and ndjson >= weights.get("application/json", 0.0)


@router.get(
    "",
    response_model=EventPage,
    responses={
        200: {
            "content": {
                NDJSON: {
                    "schema": {"type": "string"},
                    "description": "With `Accept: application/x-ndjson`: every event after "
                    "`after` up to the head at the time of the request, one JSON item a line",
                }
            },
            "description": "A page of events (or, for NDJSON, the rest of the log)",
        },
        **problems(401, 403, 422, 429),
    },
    summary="The global event stream (auditors, researchers, admins)",
)
def read_events(
    principal: StreamReader,
    services: ServicesDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT, description="Page size (JSON)")] = 100,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """Events after `after` in global order; `next_after` continues the page.

    With `Accept: application/x-ndjson` the answer streams every event after `after` up to
    the log's head as it was when the request came (`limit` does not apply), in constant
    memory. No item ever holds personal data.
    """
    stream = services.stream
    if wants_ndjson(accept):
        may_open_stream(services, principal)
        lines = _ndjson(stream, after, stream.head())
        return StreamingResponse(
            guarded(services, principal, lines), media_type=NDJSON, headers=_NO_BUFFERING
        )
    page = stream.page(after, limit)
    return {"items": page.items, "next_after": page.next_after}


def may_open_stream(services: Services, principal: Principal) -> None:
    """429 when the token holds as many streams open as it may (checked before the answer
    starts; the slot itself is taken when the stream does, see `guarded`)."""
    slots = services.stream_slots
    if slots.open_for(principal.token_id) >= slots.per_token:
        raise RateLimitedError(
            f"this token holds {slots.per_token} streams open, the most it may; close one "
            "and retry",
            retry_after=1,
        )


def guarded(services: Services, principal: Principal, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A stream that holds one of the token's slots while it runs and ends within a second
    or two once the token is revoked."""
    with services.stream_slots.slot(principal.token_id) as held:
        if not held:
            return  # another stream of the token took the last slot meanwhile
        check = Revalidation(lambda: services.tokens.is_active(principal.token_id))
        for chunk in chunks:
            if not check.valid():
                return
            yield chunk


def _ndjson(stream: EventStream, after: int, until: int) -> Iterator[bytes]:
    return _chunked(_line(stored.item) for stored in stream.iterate(after, until))


def _chunked(lines: Iterable[bytes]) -> Iterator[bytes]:
    # One write per batch of lines: far fewer sends than one per event, memory still bounded.
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= NDJSON_CHUNK:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def _line(item: dict[str, Any]) -> bytes:
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


_NO_BUFFERING = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "A `tris-export/1` file, as `tris export` writes it: a header line, "
            "then every event after `after` up to the head at the time of the request, each "
            "with its stored record (contact persons only sealed)",
        },
        **problems(401, 403, 422, 429),
    },
    summary="Export the event stream for `tris replay` (auditors, researchers, admins)",
)
def export_events(
    principal: StreamReader, services: ServicesDep, after: After = 0
) -> StreamingResponse:
    """The export a reader without database access replays into a store of their own.

    The lines `tris export --after P` writes, only `exported_at` differs (ADR 12); only an
    export from position 0 can seed a fresh store. Streamed in constant memory.
    """
    may_open_stream(services, principal)
    stream = services.stream
    header = start_export(stream, after=after)
    lines = (line.encode() for line in export_lines(stream, header))
    first = header_line(header).encode()
    name = f"tris-export-{header.after}-{header.source_head}.ndjson"
    return StreamingResponse(
        guarded(services, principal, _chunked(itertools.chain([first], lines))),
        media_type=NDJSON,
        headers={**_NO_BUFFERING, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def parse_last_event_id(value: str | None) -> int | None:
    """The position in a Last-Event-ID header (an SSE client sends the last `id:` it saw)."""
    # Only HTTP's own blanks (space, tab) surround a value; an empty one means "none".
    text = "" if value is None else value.strip(" \t")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise MalformedHeaderError(
            f"Last-Event-ID must be a position this stream sent as an event id; got {value!r}"
        )
    return int(text)


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={
        200: {
            # The schema of one event (as OpenAPI 3.2 reads a text/event-stream schema).
            "content": {EVENT_STREAM: {"schema": SSE_EVENT_SCHEMA}},
            "description": "Server-Sent Events: `id:` the position, `event:` the type, "
            "`data:` the item as JSON; a comment line every 15 s keeps the connection open",
        },
        **problems(400, 401, 403, 422, 429),
    },
    summary="Follow the event stream live (Server-Sent Events)",
)
async def follow_events(
    request: Request,
    principal: StreamReader,
    services: ServicesDep,
    after: After = 0,
    limit: Annotated[
        int | None,
        Query(ge=1, le=1_000_000, description="Close the stream after this many events"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this position (sent by SSE clients on reconnection; "
            "takes precedence over `after`)",
        ),
    ] = None,
) -> StreamingResponse:
    """Every event after `after` (or `Last-Event-ID`), then each new one as it is committed.

    A reconnecting client that sends the last id it saw misses no event and sees none twice.
    """
    resumed = parse_last_event_id(last_event_id)
    start = after if resumed is None else resumed
    # A stream is closed after a while, so none holds a server for ever; the client's
    # EventSource reconnects with Last-Event-ID (after `retry:`) and misses nothing.
    max_seconds = float(request.app.state.settings.stream_max_seconds)
    may_open_stream(services, principal)
    return StreamingResponse(
        _live(request, services, principal, start, limit, max_seconds),
        media_type=EVENT_STREAM,
        headers=_NO_BUFFERING,
    )


async def _live(
    request: Request,
    services: Services,
    principal: Principal,
    after: int,
    limit: int | None,
    max_seconds: float,
) -> AsyncIterator[str]:
    with services.stream_slots.slot(principal.token_id) as held:
        if not held:
            return  # another stream of the token took the last slot meanwhile
        async for message in _follow(request, services, principal, after, limit, max_seconds):
            yield message


async def _follow(
    request: Request,
    services: Services,
    principal: Principal,
    after: int,
    limit: int | None,
    max_seconds: float,
) -> AsyncIterator[str]:
    """Send what is there, then wait for the process's head watcher to see more: the
    stream reads the log only when there is something to read."""
    stream = services.stream
    check = Revalidation(lambda: services.tokens.is_active(principal.token_id))
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    cursor, sent, last_write = after, 0, time.monotonic()
    closing_at = last_write + max_seconds
    known_head = -1
    while (limit is None or sent < limit) and time.monotonic() < closing_at:
        if not await run_in_threadpool(check.valid):
            return  # the token was revoked
        if cursor < known_head or known_head < 0:
            wanted = LIVE_BATCH if limit is None else min(LIVE_BATCH, limit - sent)
            page = await run_in_threadpool(stream.page, cursor, wanted)
            for item in page.items:
                yield _sse(item)
            if page.items:
                cursor, sent = page.next_after, sent + len(page.items)
                last_write = time.monotonic()
                continue
            known_head = cursor
        if await request.is_disconnected():
            return
        if time.monotonic() - last_write >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_write = time.monotonic()
        await anyio.sleep(POLL_SECONDS)
        known_head = (
            max(known_head, services.head_watcher.head()) if services.head_watcher.watching else -1
        )


def _sse(item: dict[str, Any]) -> str:
    data = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return f"id: {item['position']}\nevent: {item['type']}\ndata: {data}\n\n"
