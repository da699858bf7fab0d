"""The export file: the open stream as NDJSON, with the stored records needed to replay it.

    {"format": "tris-export/1", "exported_at": "…", "after": 0, "source_head": 1234}
    {"position": 1, "aggregate_id": "…", …, "hash": "…", "stored": {"topic": "…", "state": "…"}}
    …

The first line is a header; every further line is one stream item (see `stream.py`) plus
`stored`: the event's topic and its stored JSON exactly as kept, so that a replay
re-inserts the same bytes and every hash re-verifies. The stored JSON holds contact
persons only in their sealed form; the keys that open them are never exported (ADR 0008).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID

from tris.application.errors import ExportFormatError
from tris.application.opendata.stream import EventStream, StoredItem

EXPORT_FORMAT = "tris-export/1"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ExportHeader:
    """The first line of an export: its format, when it was made, and the range it covers."""

    exported_at: str
    after: int
    source_head: int
    format: str = EXPORT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "format": self.format,
            "exported_at": self.exported_at,
            "after": self.after,
            "source_head": self.source_head,
        }


@dataclass(frozen=True)
class ExportedEvent:
    """One event line of an export, as much of it as a replay needs."""

    line: int
    position: int
    aggregate_id: str
    version: int
    topic: str
    state: bytes
    hash: str | None


def dumps(value: Any) -> str:
    """One NDJSON line (without its newline)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_record(stored: StoredItem) -> dict[str, Any]:
    """A stream item with the stored record it came from."""
    notification = stored.notification
    return {
        **stored.item,
        "stored": {"topic": notification.topic, "state": bytes(notification.state).decode()},
    }


def write_export(
    stream: EventStream,
    out: TextIO,
    *,
    after: int = 0,
    progress: Callable[[int], None] | None = None,
    clock: Clock = lambda: datetime.now(UTC),
) -> ExportHeader:
    """Write every event after `after`, up to the head as it is now; return the header.

    Memory stays constant: events are read and written a batch at a time.
    """
    header = start_export(stream, after=after, clock=clock)
    out.write(header_line(header))
    for line in export_lines(stream, header):
        out.write(line)
        if progress is not None:
            progress(1)
    return header


def start_export(
    stream: EventStream, *, after: int = 0, clock: Clock = lambda: datetime.now(UTC)
) -> ExportHeader:
    """The header of an export of every event after `after`, up to the head as it is now."""
    return ExportHeader(
        exported_at=clock().isoformat(), after=after, source_head=max(stream.head(), after)
    )


def header_line(header: ExportHeader) -> str:
    """The first line of an export (with its newline)."""
    return dumps(header.to_dict()) + "\n"


def export_lines(stream: EventStream, header: ExportHeader) -> Iterator[str]:
    """The event lines of an export (each with its newline), read a batch at a time."""
    for stored in stream.iterate(header.after, header.source_head):
        yield dumps(export_record(stored)) + "\n"


def read_header(first_line: str | None) -> ExportHeader:
    """The header of an export, or ExportFormatError."""
    if first_line is None:
        raise ExportFormatError("the file is empty; an export starts with a header line")
    try:
        raw = json.loads(first_line)
    except ValueError:
        raise ExportFormatError("line 1 is not JSON; an export starts with a header") from None
    if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise ExportFormatError(
            f"line 1 does not announce {EXPORT_FORMAT!r} (found format {found!r})"
        )
    try:
        return ExportHeader(
            exported_at=str(raw["exported_at"]),
            after=_count(raw["after"]),
            source_head=_count(raw["source_head"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ExportFormatError(
            "line 1: the header needs exported_at, after and source_head"
        ) from None


def read_events(lines: Iterable[str], first_line_number: int = 2) -> Iterator[ExportedEvent]:
    """The event lines of an export (after its header), parsed one at a time."""
    for number, text in enumerate(lines, start=first_line_number):
        if not text.strip():
            continue
        yield parse_event(text, number)


def parse_event(text: str, line: int) -> ExportedEvent:
    """One event line, or ExportFormatError naming the line."""
    try:
        raw = json.loads(text)
        stored = raw["stored"]
        return ExportedEvent(
            line=line,
            position=_count(raw["position"]),
            aggregate_id=str(UUID(str(raw["aggregate_id"]))),
            version=_count(raw["version"]),
            topic=_text(stored["topic"]),
            state=_text(stored["state"]).encode(),
            hash=None if raw.get("hash") is None else _text(raw["hash"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ExportFormatError(
            f"line {line} is not an exported event (position, aggregate_id, version, "
            "hash and stored {topic, state} are needed)"
        ) from None


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a count")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
