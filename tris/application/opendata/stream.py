"""The open event stream: every event in global order, in a public form without personal data.

An item of the stream::

    {"position": 17, "aggregate_id": "…", "aggregate_type": "Agreement", "version": 4,
     "type": "Signed", "event_version": 1, "time": "2026-06-01T09:30:00.123456+00:00",
     "actor": {"party_id": "…", "token_id": "…"}, "data": {"revision": 2, …},
     "hash": "<hex of the event's link in its aggregate's hash chain>"}

`data` holds the event's own fields as plain JSON, decoded through the current event
classes (so old events arrive upcast, and `event_version` is the class's version).
Contact persons appear only as `{"id": person_id}`, for every reader: the stream is the
researchers' product and never carries personal data, not even sealed. Decoding never
opens a sealed contact, so reading the stream needs no personal-data key at all.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    Transcoding,
    UUIDAsHex,
)

from tris.application.store import EventStore
from tris.domain.party import Contact
from tris.storage.transcodings import TupleKeepingTranscoder, register_transcodings

PAGE_LIMIT = 500
"""The largest page a client may ask for."""

BATCH = 1000
"""Events read from the database at a time when a whole range is streamed."""

_BASES = frozenset({"Event", "Created"})
_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "actor"}
)


class WithheldContact(Transcoding):
    """Decodes a stored contact to its person id alone, without opening the sealed data."""

    type = Contact
    name = "contact_sealed"  # the name the event store registers its sealed contacts under

    def encode(self, obj: Contact) -> dict[str, Any]:
        """Never used: the stream only reads."""
        raise TypeError("the public stream does not store contacts")

    def decode(self, data: dict[str, Any]) -> Contact:
        """The person id only; the rest stays sealed (and is not even read)."""
        return Contact.erased_person(data["person_id"])


@functools.cache
def public_mapper() -> Mapper[UUID]:
    """A mapper that decodes (and upcasts) stored events without touching personal data."""
    transcoder: JSONTranscoder = TupleKeepingTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_transcodings(transcoder)
    transcoder.register(WithheldContact())
    return Mapper(transcoder=transcoder)


def event_version(event_class: type[Any]) -> int:
    """The schema version of an event class (`class_version`, 1 unless raised)."""
    return int(getattr(event_class, "class_version", 1))


def aggregate_and_type(event_class: type[Any]) -> tuple[str, str]:
    """("Agreement", "Signed") for `Agreement.Signed`: the aggregate and the event's name."""
    aggregate, _, name = event_class.__qualname__.rpartition(".")
    return aggregate, name


def public_value(value: Any) -> Any:
    """A decoded value as plain JSON, contacts reduced to their person id."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Contact):
        return {"id": value.person_id}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Enum):
        return public_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): public_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [public_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: public_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return public_value(to_dict())
    raise TypeError(f"no public form for a {type(value).__name__} in an event")


def public_item(notification: Notification, event_hash: str | None) -> dict[str, Any]:
    """One stored event as an item of the open stream."""
    event: Any = public_mapper().to_domain_event(notification)
    event_class = type(event)
    aggregate, name = aggregate_and_type(event_class)
    actor = getattr(event, "actor", None)
    fields = vars(event)
    return {
        "position": notification.id,
        "aggregate_id": str(event.originator_id),
        "aggregate_type": aggregate,
        "version": notification.originator_version,
        "type": name,
        "event_version": event_version(event_class),
        "time": event.timestamp.isoformat(),
        "actor": None if actor is None else public_value(actor),
        "data": {k: public_value(v) for k, v in fields.items() if k not in _ENVELOPE},
        "hash": event_hash,
    }


def event_classes(*aggregates: type[Aggregate]) -> list[type[Any]]:
    """Every event class nested in the given aggregates (what the stream can carry)."""
    found = []
    for aggregate in aggregates:
        for name, value in vars(aggregate).items():
            # `Event` and `Created` are the library's per-aggregate bases, never recorded.
            if name in _BASES or not isinstance(value, type):
                continue
            if issubclass(value, Aggregate.Event):
                found.append(value)
    return found


@dataclass(frozen=True)
class StreamPage:
    """Items after a position, and the position to ask from next."""

    items: list[dict[str, Any]]
    next_after: int


@dataclass(frozen=True)
class StoredItem:
    """A stream item together with the stored record it was rendered from."""

    item: dict[str, Any]
    notification: Notification


class EventStream:
    """Reads the global log by position, in pages or as one constant-memory iteration."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def head(self) -> int:
        """The position of the last event (0 for an empty log)."""
        return self.store.log.head()

    def page(self, after: int, limit: int) -> StreamPage:
        """Up to `limit` items after position `after`, in order."""
        items = [s.item for s in self._read(after, limit, None)]
        return StreamPage(items, items[-1]["position"] if items else after)

    def iterate(self, after: int, until: int, batch: int = BATCH) -> Iterator[StoredItem]:
        """Every item after `after` up to position `until`, read `batch` at a time."""
        cursor = after
        while cursor < until:
            chunk = self._read(cursor, batch, until)
            if not chunk:
                return
            yield from chunk
            cursor = chunk[-1].item["position"]

    def _read(self, after: int, limit: int, until: int | None) -> list[StoredItem]:
        notifications = self.store.log.notifications(after, limit, until=until)
        keys = [_key(n.originator_id, n.originator_version) for n in notifications]
        hashes = self.hashes_of(keys)
        return [
            StoredItem(public_item(n, hashes.get(key)), n)
            for n, key in zip(notifications, keys, strict=True)
        ]

    def hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The recorded chain hash of each (aggregate id, version) given."""
        return self.store.hashes.of(keys)


def _key(originator_id: Any, version: int) -> tuple[str, int]:
    """The key of the hash table: the aggregate id as a dashed UUID string, and the version."""
    return str(UUID(str(originator_id))), int(version)
