"""How domain values are stored: JSON transcodings registered with the event mapper.

Every custom type in an event or a snapshot needs one (the library raises otherwise).
Value objects with a plain `to_dict` form are stored as that plain form, so the stored
JSON stays readable for researchers and stable for hashing.
"""

from __future__ import annotations

import base64
import dataclasses
import typing
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from tris.domain.agreement import (
    AgreementStatus,
    Evidence,
    Fulfilment,
    FulfilmentStatus,
    Notarisation,
    Revision,
    RevisionKind,
    RevisionState,
    SignatureRecord,
)
from tris.domain.market.deal import Origin
from tris.domain.market.market import MarketFormat, MarketPlan, MarketStatus
from tris.domain.market.posting import PostingSide, PostingStatus
from tris.domain.networks.membership import MembershipStatus, MembershipTerms
from tris.domain.party import Identifier, PartyDetails, SigningKey
from tris.domain.values import Actor, CommitmentKind, Content, Sector, SectorMix, Terms


class DateAsISO(Transcoding):
    """A `datetime.date` as an ISO 8601 string."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        """Encode."""
        return obj.isoformat()

    def decode(self, data: str) -> date:
        """Decode."""
        return date.fromisoformat(data)


class BytesAsBase64(Transcoding):
    """Raw bytes (keys, signatures) as standard base64."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        """Encode."""
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        """Decode."""
        return base64.b64decode(data)


class TupleAsList(Transcoding):
    """A tuple, kept distinct from a list so replayed state equals live state."""

    type = tuple
    name = "tuple"

    def encode(self, obj: tuple[Any, ...]) -> list[Any]:
        """Encode."""
        return list(obj)

    def decode(self, data: list[Any]) -> tuple[Any, ...]:
        """Decode."""
        return tuple(data)


class TupleKeepingTranscoder(JSONTranscoder):
    """The library's JSON transcoder, except that a tuple is decoded as a tuple again.

    `json` writes a tuple as an array without asking the transcoder, so TupleAsList alone
    would never run: tuples are tagged before encoding, also inside encoded values.
    """

    def encode(self, obj: Any) -> bytes:
        """Encode, with every tuple tagged."""
        return super().encode(_tag_tuples(obj))

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        encoded: dict[str, Any] = _tag_tuples(super()._encode_obj(o))
        return encoded


def _tag_tuples(value: Any) -> Any:
    if type(value) is tuple:
        return {"_type_": TupleAsList.name, "_data_": [_tag_tuples(v) for v in value]}
    if type(value) is list:
        return [_tag_tuples(v) for v in value]
    if type(value) is dict:
        return {k: _tag_tuples(v) for k, v in value.items()}
    return value


def enum_transcoding(enum_type: type[Enum], name: str) -> Transcoding:
    """A transcoding that stores an enum member as its value."""

    class EnumAsValue(Transcoding):
        type = enum_type

        def encode(self, obj: Enum) -> Any:
            return obj.value

        def decode(self, data: Any) -> Enum:
            return enum_type(data)

    EnumAsValue.name = name
    return EnumAsValue()


def plain_transcoding(
    value_type: type[Any],
    name: str,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
) -> Transcoding:
    """A transcoding from explicit encode/decode functions to plain JSON."""

    class Plain(Transcoding):
        type = value_type

        def encode(self, obj: Any) -> Any:
            return encode(obj)

        def decode(self, data: Any) -> Any:
            return decode(data)

    Plain.name = name
    return Plain()


def dataclass_transcoding(value_type: type[Any], name: str) -> Transcoding:
    """A transcoding that stores a dataclass field by field (nested values transcoded too)."""
    fields = [f.name for f in dataclasses.fields(value_type)]
    hints = typing.get_type_hints(value_type)
    tuple_fields = {f for f in fields if typing.get_origin(hints[f]) is tuple}

    def encode(obj: Any) -> dict[str, Any]:
        return {f: getattr(obj, f) for f in fields}

    def decode(data: dict[str, Any]) -> Any:
        values = {f: data[f] for f in fields if f in data}
        for f in tuple_fields & values.keys():
            values[f] = tuple(values[f])
        return value_type(**values)

    return plain_transcoding(value_type, name, encode, decode)


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Register every TRIS value type with the library's JSON transcoder."""
    transcoder.register(DateAsISO())
    transcoder.register(BytesAsBase64())
    transcoder.register(TupleAsList())
    for enum_type, name in [
        (Sector, "sector"),
        (SectorMix, "sector_mix"),
        (CommitmentKind, "commitment_kind"),
        (AgreementStatus, "agreement_status"),
        (RevisionKind, "revision_kind"),
        (RevisionState, "revision_state"),
        (FulfilmentStatus, "fulfilment_status"),
        (MarketFormat, "market_format"),
        (MarketStatus, "market_status"),
        (PostingSide, "posting_side"),
        (PostingStatus, "posting_status"),
        (MembershipStatus, "membership_status"),
    ]:
        transcoder.register(enum_transcoding(enum_type, name))
    transcoder.register(
        plain_transcoding(Content, "content", lambda c: c.to_dict(), Content.from_dict)
    )
    transcoder.register(plain_transcoding(Terms, "terms", lambda t: t.to_dict(), Terms.from_dict))
    transcoder.register(
        plain_transcoding(
            Actor,
            "actor",
            lambda a: {"party_id": a.party_id, "token_id": a.token_id},
            lambda d: Actor(d["party_id"], d["token_id"]),
        )
    )
    for value_type, name in [
        (PartyDetails, "party_details"),
        (Identifier, "identifier"),
        (SigningKey, "signing_key"),
        (Evidence, "evidence"),
        (SignatureRecord, "signature_record"),
        (Revision, "revision"),
        (Fulfilment, "fulfilment"),
        (MarketPlan, "market_plan"),
        (Origin, "origin"),
        (Notarisation, "notarisation"),
        (MembershipTerms, "membership_terms"),
    ]:
        transcoder.register(dataclass_transcoding(value_type, name))
