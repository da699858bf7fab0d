"""Value objects of the domain: sectors, actors, agreement content and commitments."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from tris.domain.errors import (
    CommitmentPartyError,
    InvalidContentError,
    InvalidQuantityError,
    InvalidTermsError,
    InvalidTextError,
    ProposerNotAPartyError,
    TooFewPartiesError,
)

MAX_TEXT = 20_000
MAX_SHORT_TEXT = 500


class Sector(Enum):
    """The three sectors whose organisations make agreements."""

    STATE = "state"
    BUSINESS = "business"
    CIVIL_SOCIETY = "civil_society"


class SectorMix(Enum):
    """How many sectors an agreement's parties span."""

    TRISECTORAL = "trisectoral"
    BISECTORAL = "bisectoral"
    INTRASECTORAL = "intrasectoral"

    @classmethod
    def of(cls, sectors: Iterable[Sector]) -> SectorMix:
        """Classify a collection of sectors by how many distinct ones it holds."""
        distinct = len(set(sectors))
        if distinct >= 3:
            return cls.TRISECTORAL
        if distinct == 2:
            return cls.BISECTORAL
        return cls.INTRASECTORAL


class CommitmentKind(Enum):
    """What a commitment gives: time, expertise, logistics, in kind, space, funding, other."""

    TIME = "time"
    EXPERTISE = "expertise"
    LOGISTICS = "logistics"
    IN_KIND = "in_kind"
    SPACE = "space"
    FUNDING = "funding"
    OTHER = "other"


class CommitmentStatus(Enum):
    """How far a commitment is fulfilled, judged by its confirmed quantity."""

    OPEN = "open"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a party (or the operator) and the token it acted through."""

    party_id: str
    token_id: str

    def __post_init__(self) -> None:
        if not self.party_id or not self.token_id:
            raise ValueError("an actor needs a party id and a token id")


OPERATOR = "operator"
"""The `party_id` of actions taken by an operator (admin token) rather than a party."""


def parse_quantity(value: str | Decimal | int) -> Decimal:
    """Parse a quantity carried as a string into a finite Decimal greater than zero."""
    if isinstance(value, (float, bool)):
        raise InvalidQuantityError("quantities are decimal strings, never floats")
    if isinstance(value, str) and not _PLAIN_DECIMAL.match(value):
        raise InvalidQuantityError(
            f"quantity {value!r} must be a plain decimal string such as '12' or '12.5'"
        )
    try:
        quantity = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidQuantityError(f"quantity {value!r} is not a decimal number") from None
    if not quantity.is_finite():
        raise InvalidQuantityError(f"quantity {value!r} is not finite")
    if quantity <= 0:
        raise InvalidQuantityError(f"quantity {value!r} must be greater than zero")
    if quantity.adjusted() > 15 or -quantity.as_tuple().exponent > 6:  # type: ignore[operator]
        raise InvalidQuantityError(
            f"quantity {value!r} must have at most 16 integer digits and 6 decimal places"
        )
    return quantity


_PLAIN_DECIMAL = re.compile(r"\A[0-9]{1,16}(\.[0-9]{1,6})?\Z")
_UNIT = re.compile(r"\A[\w €$%./-]{1,32}\Z")

# Characters no text of TRIS may hold: C0 and C1 control characters (PostgreSQL cannot store
# NUL; the others corrupt logs, terminals and exports), lone surrogates (not encodable as
# UTF-8) and the noncharacters U+FFFE and U+FFFF. Multi-line text may hold tab, LF and CR.
_FORBIDDEN_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# The days TRIS accepts in any date: agreements between living organisations.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def valid_unit(unit: object) -> bool:
    """True when `unit` is a short unit word such as `hours`, `items` or `m²`."""
    return isinstance(unit, str) and _UNIT.match(unit) is not None


def check_text(what: str, value: str, *, multiline: bool = False) -> str:
    """Refuse text with control characters (tab and line breaks allowed when `multiline`),
    lone surrogates or noncharacters; return the text."""
    pattern = _FORBIDDEN_IN_TEXT if multiline else _FORBIDDEN_IN_LINE
    found = pattern.search(value)
    if found is not None:
        raise InvalidTextError(
            f"{what} holds the character U+{ord(found.group()):04X} at offset {found.start()}: "
            + (
                "control characters other than tab and line breaks"
                if multiline
                else "control characters (line breaks included)"
            )
            + ", lone surrogates and noncharacters are refused"
        )
    return value


def check_date(what: str, value: date) -> date:
    """Refuse a date outside the years TRIS accepts."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InvalidTextError(
            f"{what} {value.isoformat()} is outside {EARLIEST_DATE.isoformat()} to "
            f"{LATEST_DATE.isoformat()}"
        )
    return value


def _require_text(
    name: str, value: str, *, limit: int, allow_empty: bool = False, multiline: bool = True
) -> str:
    if not isinstance(value, str):
        raise InvalidContentError(f"{name} must be text")
    check_text(name, value, multiline=multiline)
    stripped = value.strip()
    if not stripped and not allow_empty:
        raise InvalidContentError(f"{name} must not be empty")
    if len(value) > limit:
        raise InvalidContentError(f"{name} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class Terms:
    """The agreement's terms: free text and an optional period."""

    text: str
    starts_on: date | None = None
    ends_on: date | None = None

    def validate(self) -> None:
        """Raise InvalidTermsError unless the terms are consistent."""
        if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > MAX_TEXT:
            raise InvalidTermsError(f"terms need a non-empty text of at most {MAX_TEXT} characters")
        check_text("terms text", self.text, multiline=True)
        for what, day in (("starts_on", self.starts_on), ("ends_on", self.ends_on)):
            if day is not None:
                check_date(f"terms {what}", day)
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise InvalidTermsError(
                f"terms end on {self.ends_on.isoformat()}, "
                f"before they start on {self.starts_on.isoformat()}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "text": self.text,
            "starts_on": self.starts_on.isoformat() if self.starts_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Terms:
        """Inverse of to_dict."""
        return cls(
            text=data["text"],
            starts_on=date.fromisoformat(data["starts_on"]) if data.get("starts_on") else None,
            ends_on=date.fromisoformat(data["ends_on"]) if data.get("ends_on") else None,
        )


@dataclass(frozen=True)
class Commitment:
    """What one party owes another (or the public) under an agreement."""

    id: str
    debtor: str
    beneficiary: str | None
    kind: CommitmentKind
    quantity: Decimal
    unit: str
    description: str
    due_on: date | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form; the quantity stays a string."""
        return {
            "id": self.id,
            "debtor": self.debtor,
            "beneficiary": self.beneficiary,
            "kind": self.kind.value,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "description": self.description,
            "due_on": self.due_on.isoformat() if self.due_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Commitment:
        """Inverse of to_dict."""
        return cls(
            id=data["id"],
            debtor=data["debtor"],
            beneficiary=data.get("beneficiary"),
            kind=CommitmentKind(data["kind"]),
            quantity=Decimal(data["quantity"]),
            unit=data["unit"],
            description=data["description"],
            due_on=date.fromisoformat(data["due_on"]) if data.get("due_on") else None,
        )


@dataclass(frozen=True)
class CommitmentDraft:
    """A commitment as a client writes it: without an id, or naming one it keeps."""

    debtor: str
    beneficiary: str | None
    kind: CommitmentKind | str
    quantity: Decimal | str
    unit: str
    description: str
    due_on: date | None = None
    id: str | None = None


class Publication(Enum):
    """Who may read an agreement: its parties and auditors, or everyone (signed consent)."""

    RESTRICTED = "restricted"
    PUBLIC = "public"


PUBLICATIONS = frozenset(p.value for p in Publication)


@dataclass(frozen=True)
class ContentDraft:
    """Agreement content as a client writes it, before TRIS assigns commitment ids."""

    title: str
    purpose: str
    parties: tuple[str, ...]
    terms: Terms
    commitments: tuple[CommitmentDraft, ...] = field(default_factory=tuple)
    publication: str | None = None


@dataclass(frozen=True)
class Content:
    """A complete, validated revision content of an agreement."""

    title: str
    purpose: str
    parties: tuple[str, ...]
    terms: Terms
    commitments: tuple[Commitment, ...]
    # `restricted` or `public`; None when the content never said (it is then restricted,
    # and the field stays out of the signing payload, so content written before the field
    # existed keeps its exact bytes, hashes and signatures).
    publication: str | None = None

    @property
    def public(self) -> bool:
        """True when the parties, by signing this content, consented to publish it."""
        return self.publication == Publication.PUBLIC.value

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, the `content` of the signing payload."""
        plain: dict[str, Any] = {
            "title": self.title,
            "purpose": self.purpose,
            "parties": list(self.parties),
            "terms": self.terms.to_dict(),
            "commitments": [c.to_dict() for c in self.commitments],
        }
        if self.publication is not None:
            plain["publication"] = self.publication
        return plain

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Content:
        """Inverse of to_dict."""
        return cls(
            title=data["title"],
            purpose=data["purpose"],
            parties=tuple(data["parties"]),
            terms=Terms.from_dict(data["terms"]),
            commitments=tuple(Commitment.from_dict(c) for c in data["commitments"]),
            publication=data.get("publication"),
        )

    def commitment(self, commitment_id: str) -> Commitment | None:
        """The commitment with this id, or None."""
        for commitment in self.commitments:
            if commitment.id == commitment_id:
                return commitment
        return None


def validate_draft(draft: ContentDraft, *, author: str | None) -> None:
    """Check the rules every agreement content must keep; raise a named error if not.

    `author` (the party proposing or revising) must be one of the parties; a broker making
    a deal between others at a market is the one author that is not (None).
    """
    _require_text("title", draft.title, limit=MAX_SHORT_TEXT, multiline=False)
    _require_text("purpose", draft.purpose, limit=MAX_TEXT)
    parties = list(draft.parties)
    if len(set(parties)) != len(parties):
        raise TooFewPartiesError("each party may appear only once in an agreement")
    if len(parties) < 2:
        raise TooFewPartiesError("an agreement needs at least two distinct parties")
    if author is not None and author not in parties:
        raise ProposerNotAPartyError(
            f"party {author} acts for its own party only and must be one of the parties"
        )
    draft.terms.validate()
    if draft.publication is not None and draft.publication not in PUBLICATIONS:
        raise InvalidContentError("publication must be restricted or public")
    if not draft.commitments:
        raise InvalidContentError("an agreement needs at least one commitment")
    seen_ids: set[str] = set()
    for index, item in enumerate(draft.commitments):
        where = f"commitment {index + 1}"
        if item.debtor not in parties:
            raise CommitmentPartyError(f"{where}: debtor {item.debtor} is not a party")
        if item.beneficiary is not None and item.beneficiary not in parties:
            raise CommitmentPartyError(f"{where}: beneficiary {item.beneficiary} is not a party")
        if item.beneficiary == item.debtor:
            raise CommitmentPartyError(f"{where}: a party cannot owe itself")
        try:
            CommitmentKind(item.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in CommitmentKind)
            raise InvalidContentError(f"{where}: kind must be one of {kinds}") from None
        parse_quantity(item.quantity)
        if not valid_unit(item.unit):
            raise InvalidContentError(f"{where}: unit must be a short word such as 'hours'")
        _require_text(f"{where}: description", item.description, limit=MAX_TEXT)
        if item.due_on is not None:
            check_date(f"{where}: due_on", item.due_on)
        if item.id is not None:
            check_text(f"{where}: id", item.id)
            if item.id in seen_ids:
                raise InvalidContentError(f"{where}: commitment id {item.id} appears twice")
            seen_ids.add(item.id)
