"""Value objects, canonical signing payloads, event actors and the documented error tree."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import inspect
import json
import re
import uuid
from datetime import date
from decimal import Decimal
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eventsourcing.domain import Aggregate

from tris import config
from tris.application import errors as application_errors
from tris.domain import errors
from tris.domain.agreement import Agreement
from tris.domain.errors import InvalidQuantityError, InvalidSigningKeyError
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting, PostingSide
from tris.domain.networks.membership import Membership, MembershipGraph, MembershipTerms
from tris.domain.party import Contact, Party, PartyDetails
from tris.domain.signing import (
    canonical_json,
    content_hash,
    decode_base64,
    key_fingerprint,
    key_registration,
    sha256_hex,
    signature_is_valid,
    signing_payload,
)
from tris.domain.values import (
    OPERATOR,
    Actor,
    Commitment,
    CommitmentKind,
    Content,
    Sector,
    Terms,
    parse_quantity,
)
from tris.interfaces.http import errors as http_errors
from tris.storage import errors as storage_errors

OPERATOR_ACTOR = Actor(OPERATOR, "token-admin")


def sample_content() -> Content:
    return Content(
        title="Kiezküche Moabit",
        purpose="Mittagessen für Nachbarn",
        parties=("p-2", "p-1"),
        terms=Terms("Ohne Geld", starts_on=date(2026, 1, 1)),
        commitments=(
            Commitment(
                id="C1",
                debtor="p-1",
                beneficiary=None,
                kind=CommitmentKind.IN_KIND,
                quantity=Decimal("12.50"),
                unit="items",
                description="Brötchen",
                due_on=date(2026, 2, 1),
            ),
        ),
    )


# -- quantities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10", "10"), ("12.50", "12.50"), ("0.000001", "0.000001"), (Decimal("3.0"), "3.0"), (7, "7")],
)
def test_a_quantity_keeps_its_exact_decimal_value(value, expected) -> None:
    assert str(parse_quantity(value)) == expected


@pytest.mark.parametrize(
    "value",
    [1.5, 2.0, True, "NaN", "-1", "0", "-0", "Infinity", "", "1/2", "9" * 17, "0.1234567"],
)
def test_a_quantity_that_is_not_a_bounded_positive_decimal_is_refused(value) -> None:
    with pytest.raises(InvalidQuantityError):
        parse_quantity(value)


# -- value objects -------------------------------------------------------------------------------


def test_content_survives_its_plain_form() -> None:
    content = sample_content()
    plain = content.to_dict()

    assert Content.from_dict(json.loads(json.dumps(plain))) == content
    assert plain["commitments"][0]["quantity"] == "12.50"
    assert plain["terms"] == {"text": "Ohne Geld", "starts_on": "2026-01-01", "ends_on": None}


@pytest.mark.parametrize(("party_id", "token_id"), [("", "t-1"), ("p-1", ""), ("", "")])
def test_an_actor_needs_a_party_and_a_token(party_id, token_id) -> None:
    with pytest.raises(ValueError, match="actor"):
        Actor(party_id, token_id)


# -- canonical JSON and signing payloads ---------------------------------------------------------


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_unicode() -> None:
    value = {"b": [1, {"z": None, "a": True}], "a": "€ ü", "\u00e9": "x"}
    assert canonical_json(value) == '{"a":"€ ü","b":[1,{"a":true,"z":null}],"é":"x"}'.encode()


def test_the_signing_payload_is_the_canonical_json_of_id_revision_and_content() -> None:
    content = sample_content()
    expected = json.dumps(
        {"agreement_id": "a-1", "revision": 3, "content": content.to_dict()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()

    payload = signing_payload("a-1", 3, content)

    assert payload == expected
    assert payload.startswith(
        b'{"agreement_id":"a-1","content":{"commitments":[{"beneficiary":null'
    )
    assert payload.endswith(b',"revision":3}')
    assert b'"quantity":"12.50"' in payload
    assert "Brötchen".encode() in payload
    assert not re.search(rb"[\n\t]|\": |, ", payload)


def test_payload_keys_are_sorted_at_every_level() -> None:
    def check(value: object) -> None:
        if isinstance(value, dict):
            assert list(value) == sorted(value)
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(json.loads(signing_payload("a-1", 1, sample_content())))


def test_the_agreements_payload_is_the_signing_payload_of_its_revision(
    world, state, business
) -> None:
    agreement = world.propose(state, world.draft(state, business))
    world.revise(agreement, business, world.draft(state, business))

    for number in (1, 2):
        payload = agreement.payload(number)
        assert payload == signing_payload(
            agreement.agreement_id, number, agreement.revision(number).content
        )
        decoded = json.loads(payload)
        assert decoded["agreement_id"] == agreement.agreement_id
        assert decoded["revision"] == number
        assert set(decoded) == {"agreement_id", "revision", "content"}
        assert decoded["content"]["commitments"][0]["quantity"] == "10"
    assert agreement.payload(1) != agreement.payload(2)


def test_the_payload_names_the_agreement_and_the_revision() -> None:
    content = sample_content()
    assert signing_payload("a-1", 1, content) != signing_payload("a-2", 1, content)
    assert signing_payload("a-1", 1, content) != signing_payload("a-1", 2, content)


def test_the_content_hash_is_the_sha256_of_the_canonical_content() -> None:
    content = sample_content()
    expected = hashlib.sha256(canonical_json(content.to_dict())).hexdigest()

    assert content_hash(content) == expected == sha256_hex(canonical_json(content.to_dict()))
    assert content_hash(dataclasses.replace(content, title="Anders")) != expected


# -- base64 and signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_is_read_with_or_without_padding(encode) -> None:
    raw = bytes(range(1, 34))
    text = encode(raw).decode()
    assert decode_base64(text, what="x") == raw
    assert decode_base64(text.rstrip("="), what="x") == raw


@pytest.mark.parametrize("text", ["a", "ab!c", "ä"])
def test_malformed_base64_is_refused(text) -> None:
    with pytest.raises(InvalidSigningKeyError):
        decode_base64(text, what="signature")


def test_a_signature_is_valid_only_for_its_key_and_payload() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private.sign(b"payload")

    assert signature_is_valid(public, signature, b"payload")
    assert not signature_is_valid(public, signature, b"payload ")
    assert not signature_is_valid(other, signature, b"payload")
    assert not signature_is_valid(public, signature[:-1], b"payload")
    assert not signature_is_valid(public[:31], signature, b"payload")


def test_a_key_id_is_the_start_of_the_keys_sha256() -> None:
    raw = bytes(32)
    assert key_fingerprint(raw) == hashlib.sha256(raw).hexdigest()[:16]


# -- every event names its actor -----------------------------------------------------------------


def nested_event_classes(aggregate: type[Aggregate]) -> dict[str, type[Aggregate.Event]]:
    return {
        name: value
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in {"Event", "Created"}
    }


@pytest.mark.parametrize(
    "aggregate", [Party, Agreement, Market, Posting, Membership, MembershipGraph]
)
def test_every_event_type_has_an_actor_field(aggregate) -> None:
    classes = nested_event_classes(aggregate)
    assert classes
    for name, cls in classes.items():
        assert "actor" in {f.name for f in dataclasses.fields(cls)}, name


def run_every_kind_of_event(world, state, business, civil) -> list[Aggregate.Event]:
    """Drive parties and agreements through every event type; return all their events."""
    events: list[Aggregate.Event] = []
    state.party.update_details(
        OPERATOR_ACTOR, PartyDetails(name="Bezirksamt Mitte von Berlin", sector=Sector.STATE)
    )
    state.party.replace_contacts(OPERATOR_ACTOR, (Contact("p-1", "Ada", "ada@example.org"),))
    state.party.record_erasure(OPERATOR_ACTOR, "p-1")
    spare = key_registration(Ed25519PrivateKey.generate(), civil.id)
    spare_id = civil.party.register_signing_key(civil.actor, *spare)
    civil.party.revoke_signing_key(civil.actor, spare_id)

    agreement = world.propose(state, world.draft(state, business, civil))
    agreement.decline(civil.actor, "Zu wenig")
    kept = world.commitment(state, business, quantity="5", commitment_id="C1")
    world.revise(agreement, civil, world.draft(state, business, civil, commitments=(kept,)))
    world.sign_all(agreement)
    world.amend(agreement, business, world.draft(state, business, civil))
    agreement.reject_amendment(civil.actor, 3, "Nein")
    world.amend(agreement, business, world.draft(state, business, civil, commitments=(kept,)))
    world.sign_all(agreement)
    disputed = agreement.record_fulfilment(state.actor, "C1", "2", date(2026, 5, 1), "")
    agreement.dispute_fulfilment(business.actor, disputed, "Nicht gesehen")
    done = agreement.record_fulfilment(state.actor, "C1", "5", date(2026, 5, 2), "")
    agreement.confirm_fulfilment(civil.actor, done)

    withdrawn = world.propose(business, world.draft(business, civil))
    withdrawn.withdraw(business.actor, "Kein Bedarf")
    terminated = world.in_force(civil, world.draft(civil, state))
    terminated.terminate(state.actor, "Ende")
    broker = world.org("Freiwilligenagentur", Sector.CIVIL_SOCIETY)
    market = world.market(state, broker, state, civil, business)
    offer = world.posting(market, civil, PostingSide.OFFER)
    need = world.posting(market, business, PostingSide.NEED)
    spare_need = world.posting(market, business, PostingSide.NEED)
    spare_need.withdraw(business.actor, "Erledigt")
    dealt = world.deal(market, broker, world.draft(civil, business))
    offer.match(broker.actor, "deal-1", dealt.agreement_id)
    need.match(broker.actor, "deal-1", dealt.agreement_id)
    world.sign_all(dealt)
    dealt.notarise(state.actor, state.key(), state.signature(dealt.payload(1)), (state.id,))
    market.close(state.actor)
    cancelled = world.market(state, broker, state)
    cancelled.cancel(state.actor, "Sturmwarnung")
    memberships = []
    for who, member in ((civil, business), (OPERATOR_ACTOR, state), (civil, broker)):
        terms = MembershipTerms(civil.id, member.id, "member", date(2024, 1, 1), None, "")
        actor = who if isinstance(who, Actor) else who.actor
        memberships.append(Membership.request(membership_id=uuid.uuid4(), actor=actor, terms=terms))
    asked, recorded, refused = memberships
    asked.accept(business.actor)
    asked.end(civil.actor, date(2025, 1, 1), "Austritt")
    recorded.correct(OPERATOR_ACTOR, date(2023, 1, 1), None, "Früher eingetreten")
    refused.reject(broker.actor, "Nein")
    graph = MembershipGraph.start(OPERATOR_ACTOR)
    graph.change(OPERATOR_ACTOR, asked.membership_id)
    business.party.deactivate(OPERATOR_ACTOR, "Aufgelöst")

    for aggregate in (
        *(o.party for o in world.orgs.values()),
        agreement,
        withdrawn,
        terminated,
        market,
        cancelled,
        offer,
        need,
        spare_need,
        dealt,
        *memberships,
        graph,
    ):
        events.extend(aggregate.collect_events())
    return events


def test_every_event_names_a_party_and_a_token(world, state, business, civil) -> None:
    events = run_every_kind_of_event(world, state, business, civil)

    expected = {
        name
        for aggregate in (Party, Agreement, Market, Posting, Membership, MembershipGraph)
        for name in nested_event_classes(aggregate)
    }
    assert {type(e).__name__ for e in events} == expected
    for event in events:
        actor = event.actor  # type: ignore[attr-defined]
        assert isinstance(actor, Actor)
        assert actor.party_id.strip(), event
        assert actor.token_id.strip(), event


def test_party_events_are_caused_by_the_acting_party_or_the_operator(
    world, state, business, civil
) -> None:
    events = run_every_kind_of_event(world, state, business, civil)
    known = {OPERATOR_ACTOR, *(o.actor for o in world.orgs.values())}
    assert {e.actor for e in events} <= known  # type: ignore[attr-defined]


def test_replaying_an_agreements_events_rebuilds_the_same_state(world, state, business) -> None:
    agreement = world.in_force(state, world.draft(state, business))
    agreement.confirm_fulfilment(
        business.actor, agreement.record_fulfilment(state.actor, "C1", "10", date(2026, 5, 1), "")
    )
    events = agreement.collect_events()

    copy = None
    for event in events:
        copy = event.mutate(copy)

    assert isinstance(copy, Agreement)
    for name in vars(agreement):
        assert getattr(copy, name) == getattr(agreement, name), name
    assert copy.version == agreement.version


# -- the documented error tree -------------------------------------------------------------------


def error_classes(module: ModuleType = errors) -> dict[str, type[Exception]]:
    """The error classes a module defines."""
    return {
        name: cls
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and issubclass(cls, Exception)
    }


def documented_parents(module: ModuleType = errors) -> dict[str, str | None]:
    """Each error named in a module docstring's tree, with its parent in the drawing."""
    assert module.__doc__
    stack: list[tuple[int, str]] = []
    parents: dict[str, str | None] = {}
    for line in module.__doc__.splitlines():
        match = re.search(r"[A-Z]\w*Error\b", line)
        if not match:
            continue
        column, name = match.start(), match.group()
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def test_every_domain_error_is_a_documented_domain_error() -> None:
    classes = error_classes()
    assert "DomainError" in classes
    for name, cls in classes.items():
        assert issubclass(cls, errors.TrisError), name
        assert name == "TrisError" or issubclass(cls, errors.DomainError), name
        doc = cls.__dict__.get("__doc__")
        assert doc and doc.strip(), f"{name} has no docstring"
        assert "title" in cls.__dict__, f"{name} has no title of its own"


def test_the_domain_docstring_draws_exactly_its_error_tree() -> None:
    classes = error_classes()
    parents = documented_parents()

    assert set(parents) == set(classes)
    for name, parent in parents.items():
        actual = classes[name].__bases__[0].__name__
        expected = "Exception" if parent is None else parent
        assert actual == expected, f"{name} subclasses {actual}, the docstring says {expected}"


def test_the_whole_tree_drawing_names_every_parent_rightly() -> None:
    known: dict[str, type[Exception]] = {}
    for module in (errors, application_errors, storage_errors, config, http_errors):
        known.update(error_classes(module))
    parents = documented_parents(application_errors)

    assert set(known) - set(error_classes(errors)) <= set(parents)
    for name, parent in parents.items():
        if parent is None:
            assert name == "TrisError"
            continue
        assert known[name].__bases__[0].__name__ == parent, f"{name} is drawn under {parent}"


def test_the_error_tree_parser_reads_nesting() -> None:
    assert documented_parents()["DomainError"] == "TrisError"
    assert documented_parents()["TooFewPartiesError"] == "InvalidContentError"
    assert documented_parents()["TrisError"] is None
    assert documented_parents(application_errors)["RequestError"] == "ApplicationError"
    assert documented_parents(application_errors)["RateLimitedError"] == "HTTPProblemError"


def test_a_domain_error_carries_its_detail() -> None:
    error = errors.StaleRevisionError("sign revision 3")
    assert error.detail == "sign revision 3"
    assert str(error) == "sign revision 3"
    assert error.title == "Stale revision"
    assert isinstance(error, errors.ConflictError)
