"""The canonicaliser and the signing payload under arbitrary Unicode and large numbers.

What a signer relies on: the bytes of a payload depend on the content only (never on key
order or the way it was built), they read back as exactly the content that was signed
(quantities to the last digit), any change of the content changes them, and numbers
JSON cannot carry exactly are refused rather than rounded.
"""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from tris.domain.signing import canonical_json, content_hash, signature_is_valid, signing_payload
from tris.domain.values import Commitment, CommitmentKind, Content, Terms

SAFE_INTEGER = 2**53 - 1  # the largest integer every JSON reader keeps exactly (I-JSON)

# Any Unicode scalar value: every plane, combining marks, controls, no lone surrogates.
unicode_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
safe_integers = st.integers(-SAFE_INTEGER, SAFE_INTEGER)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | safe_integers | finite_floats | unicode_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(unicode_text, inner, max_size=5),
    max_leaves=30,
)


def utf16_key(text: str) -> bytes:
    """The order RFC 8785 sorts member names in: by their UTF-16 code units."""
    return text.encode("utf-16-be")


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's members in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@given(json_values, st.randoms(use_true_random=False))
def test_member_order_never_changes_the_canonical_bytes(value: Any, rng: random.Random) -> None:
    assert canonical_json(shuffled(value, rng)) == canonical_json(value)


@given(json_values)
def test_canonical_bytes_read_back_as_the_same_value(value: Any) -> None:
    encoded = canonical_json(value)
    # RFC 8785 numbers are IEEE doubles: a large float is written without an exponent
    # (1e16 as 10000000000000000), so it is read back as a double, as JCS readers do.
    decoded = json.loads(encoded.decode("utf-8"), parse_int=float)
    assert decoded == value
    assert canonical_json(decoded) == encoded


@given(st.dictionaries(unicode_text, safe_integers, min_size=2, max_size=12))
def test_members_are_sorted_by_utf16_code_units(value: dict[str, int]) -> None:
    decoded = json.loads(canonical_json(value), object_pairs_hook=lambda pairs: pairs)
    names = [name for name, _ in decoded]
    assert names == sorted(value, key=utf16_key)


@given(json_values)
def test_canonical_bytes_have_no_whitespace_outside_strings(value: Any) -> None:
    text = canonical_json(value).decode("utf-8")
    # Removing the strings leaves only structure and literals, written without spaces.
    outside = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert not any(ch.isspace() for ch in _strip_strings(text))
    # Numbers may be respelled either way: 1e-05 is 0.00001 in JCS, 1e+16 is 10000000000000000.
    respelled = text.count("e") + outside.count("e")
    assert len(text) <= len(outside) + 100 * respelled


def _strip_strings(text: str) -> str:
    out, inside, escaped = [], False, False
    for ch in text:
        if inside:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                inside = False
        elif ch == '"':
            inside = True
        else:
            out.append(ch)
    return "".join(out)


@given(st.integers(min_value=SAFE_INTEGER + 1) | st.integers(max_value=-SAFE_INTEGER - 1))
def test_integers_beyond_what_json_keeps_exactly_are_refused(number: int) -> None:
    with pytest.raises(ValueError):
        canonical_json({"quantity": number})


# -- the signing payload -----------------------------------------------------------------------

ids = st.uuids().map(str)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31))
# Quantities as TRIS keeps them: positive decimals of any size and precision, never floats.
quantities = st.decimals(
    min_value=Decimal("0.000000001"),
    max_value=Decimal("1e30"),
    allow_nan=False,
    allow_infinity=False,
    places=9,
).filter(lambda d: d > 0)


@st.composite
def contents(draw: st.DrawFn) -> Content:
    """A revision content with arbitrary text, dates and (large) quantities."""
    parties = tuple(draw(st.lists(ids, min_size=2, max_size=4, unique=True)))
    commitments = tuple(
        Commitment(
            id=f"C{index + 1}",
            debtor=draw(st.sampled_from(parties)),
            beneficiary=draw(st.none() | st.sampled_from(parties)),
            kind=draw(st.sampled_from(list(CommitmentKind))),
            quantity=draw(quantities),
            unit=draw(unicode_text),
            description=draw(unicode_text),
            due_on=draw(st.none() | dates),
        )
        for index in range(draw(st.integers(0, 3)))
    )
    return Content(
        title=draw(unicode_text),
        purpose=draw(unicode_text),
        parties=parties,
        terms=Terms(
            text=draw(unicode_text),
            starts_on=draw(st.none() | dates),
            ends_on=draw(st.none() | dates),
        ),
        commitments=commitments,
    )


revisions = st.integers(1, SAFE_INTEGER - 1)  # the tests also sign revision + 1


@given(ids, revisions, contents())
def test_a_payload_reads_back_as_exactly_what_was_signed(
    agreement_id: str, revision: int, content: Content
) -> None:
    payload = signing_payload(agreement_id, revision, content)
    decoded = json.loads(payload.decode("utf-8"))
    assert decoded == {
        "agreement_id": agreement_id,
        "revision": revision,
        "content": content.to_dict(),
    }
    assert Content.from_dict(decoded["content"]) == content
    for original, read in zip(content.commitments, decoded["content"]["commitments"], strict=True):
        assert read["quantity"] == str(original.quantity)  # every digit, as a string


@given(ids, revisions, contents(), st.randoms(use_true_random=False))
def test_a_payload_does_not_depend_on_how_the_content_was_built(
    agreement_id: str, revision: int, content: Content, rng: random.Random
) -> None:
    rebuilt = Content.from_dict(shuffled(content.to_dict(), rng))
    assert signing_payload(agreement_id, revision, rebuilt) == signing_payload(
        agreement_id, revision, content
    )
    assert content_hash(rebuilt) == content_hash(content)


@given(ids, revisions, contents(), unicode_text)
def test_any_change_of_the_content_changes_the_payload(
    agreement_id: str, revision: int, content: Content, title: str
) -> None:
    changed = Content(
        title=title,
        purpose=content.purpose,
        parties=content.parties,
        terms=content.terms,
        commitments=content.commitments,
    )
    same = title == content.title
    before = signing_payload(agreement_id, revision, content)
    assert (signing_payload(agreement_id, revision, changed) == before) is same
    assert (signing_payload(agreement_id, revision + 1, content) == before) is False


@settings(max_examples=50)
@given(ids, revisions, contents(), st.data())
def test_a_signature_holds_for_the_payload_and_for_no_changed_byte(
    agreement_id: str, revision: int, content: Content, data: st.DataObject
) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    payload = signing_payload(agreement_id, revision, content)
    signature = key.sign(payload)
    assert signature_is_valid(public, signature, payload)
    index = data.draw(st.integers(0, len(payload) - 1))
    flipped = bytearray(payload)
    flipped[index] ^= data.draw(st.integers(1, 255))
    assert not signature_is_valid(public, signature, bytes(flipped))


# Also values JSON may hold that TRIS never writes: integers beyond the safe range, and
# member names from every plane (their order differs by code point and by UTF-16 unit).
any_integers = st.integers() | safe_integers
wide_json_values = st.recursive(
    st.none() | st.booleans() | any_integers | finite_floats | unicode_text,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(unicode_text | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=30,
)


def reference_jcs(value: Any) -> bytes:
    """The reference implementation's canonical form."""
    return bytes(rfc8785.dumps(value))


def outcome(canonicalise: Any, value: Any) -> bytes | type[Exception]:
    """The bytes a canonicaliser produces for a value, or the kind of error it raises."""
    try:
        produced: bytes = canonicalise(value)
    except Exception as exc:
        return type(exc)
    return produced


@settings(max_examples=1000)
@given(wide_json_values)
def test_the_canonical_form_is_byte_for_byte_the_reference_implementations(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(reference_jcs, value)


@pytest.mark.parametrize(
    "value",
    [
        {"z": 1, "a": [True, False, None], "m": {"é": "ß", "\ue000": "x", "\U0001f600": "y"}},
        {"text": 'Zeile\nZwei\t\u0001\u001f\u007f\u2028"\\'},
        {"n": 2**53 - 1, "m": -(2**53 - 1)},
        {"n": 2**53},
        {"lone": "\ud800"},
        [1.0, 0.1, 1e21, -0.0],
        ("tuple", 1),
    ],
)
def test_edge_values_canonicalise_as_the_reference_does(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(reference_jcs, value)
