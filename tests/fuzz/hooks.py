"""Schemathesis hooks for the fuzz run: keep the seeded identities alive, reach deep states.

Loaded by the schemathesis command through `SCHEMATHESIS_HOOKS`; the seeded state it needs
(tokens, token ids, parties, signing keys) comes from the JSON file named by
`TRIS_FUZZ_STATE`, written by the test before the run.

* The fuzzer reads token ids from `GET /v1/tokens` and signing key ids from party views and
  revokes them. Revoking the seeded tokens would turn every later request of that role into
  a 401 and hide the rest of the API from the run, so a revocation of a seeded token or key
  is sent for an id that does not exist instead (404). Tokens and keys the fuzzer made
  itself are revoked for real.
* Schema-valid proposals almost never satisfy the rules no JSON Schema can state (registered
  parties, the proposer among them, positive decimal quantities, …), and writes to an
  agreement need its current version as `If-Match`. So, for a seeded partner's positive
  cases only (negative cases are never touched): half of the proposals, revisions and
  amendments are completed into valid content around the generated text, naming the
  proposer and outsiders but never the other partner; half of the revisions, amendments
  and signatures of an agreement the other partner is no party to carry its current ETag;
  half of those signatures are real Ed25519 signatures of the latest revision by the
  caller's seeded key; and half of the signing key registrations register a new key of the
  caller's own party. A completed revision whose agreement is no longer a proposal goes
  to a fresh proposal of the caller's, and a completed write that carries a generated
  Idempotency-Key gets one of its own (generated keys repeat across cases with other
  bodies, which the API refuses by design).
* Every answer is appended to the traffic file (operation, seeded role, status), from which
  the test checks that the seeded tokens were never refused and every operation got past
  authentication.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import threading
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tris.domain.signing import key_registration

STATE = json.loads(Path(os.environ["TRIS_FUZZ_STATE"]).read_text())
BASE_URL: str = STATE["base_url"]
TRAFFIC = Path(STATE["traffic"])
ROLE_OF_HEADER = {f"Bearer {secret}": role for role, secret in STATE["tokens"].items()}
PROTECTED_TOKEN_IDS = frozenset(STATE["protected_token_ids"])
PROTECTED_KEY_IDS = frozenset(STATE["protected_key_ids"])
PARTNERS: dict[str, dict[str, str]] = STATE["partners"]
# Parties no token of the fuzzer acts for: a completed proposal names the proposer and some
# of them, never the other partner, whose reads of the proposer's objects must be refused.
OUTSIDERS: list[str] = STATE["outsider_party_ids"]
# How often a positive case is completed into one the API accepts.
ASSIST = 0.5

_lock = threading.Lock()

PROPOSE = "POST /v1/agreements"
REVISE = "POST /v1/agreements/{agreement_id}/revisions"
AMEND = "POST /v1/agreements/{agreement_id}/amendments"
SIGN = "POST /v1/agreements/{agreement_id}/signatures"
REGISTER_KEY = "POST /v1/parties/{party_id}/signing-keys"
REVOKE_TOKEN = "DELETE /v1/tokens/{token_id}"
REVOKE_KEY = "DELETE /v1/parties/{party_id}/signing-keys/{key_id}"
SCHEDULE_MARKET = "POST /v1/markets"
CONTENT_WRITES = frozenset({PROPOSE, REVISE, AMEND})
CURRENT_VERSION_WRITES = frozenset({REVISE, AMEND, SIGN})

_PLAIN_DECIMAL = re.compile(r"^\d{1,16}(\.\d{1,6})?$")
_UNIT = re.compile(r"^[\w €$%./-]{1,32}$")
_KINDS = ("time", "expertise", "logistics", "in_kind", "space", "funding", "other")


def _header(case: Any, name: str) -> str | None:
    for key, value in (case.headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _set_header(case: Any, name: str, value: str) -> None:
    for key in [k for k in (case.headers or {}) if k.lower() == name.lower()]:
        del case.headers[key]
    if case.headers is None:
        case.headers = {}
    case.headers[name] = value


def _role(authorization: str | None) -> str | None:
    return ROLE_OF_HEADER.get(authorization or "")


def _is_positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(mode is not None and mode.is_positive)


def _rng(case: Any) -> random.Random:
    """A generator seeded by the case itself, so a fixed run seed gives the same choices."""
    material = json.dumps(
        [case.operation.label, case.path_parameters, case.query, case.body],
        sort_keys=True,
        default=repr,
    )
    return random.Random(hashlib.sha256(material.encode()).digest())


def _unknown_id(value: str) -> str:
    """64 hex digits: a valid id that no token (16 digits) or key ever has."""
    return hashlib.sha256(f"protected:{value}".encode()).hexdigest()


def _text(value: Any, fallback: str, limit: int) -> str:
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value
    return fallback


def _quantity(value: Any, rng: random.Random) -> str:
    if isinstance(value, str) and _PLAIN_DECIMAL.match(value) and float(value) > 0:
        return value
    whole = str(rng.randint(1, 10**6))
    return whole if rng.random() < 0.5 else f"{whole}.{rng.randint(1, 999_999)}"


def _date(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value).isoformat() if len(value) == 10 else None
    except ValueError:
        return None


def _valid_content(
    body: dict[str, Any], author: str, rng: random.Random, *, rationale: bool
) -> dict[str, Any]:
    """The generated content, completed so that it keeps every rule of a proposal."""
    parties = [author, *rng.sample(OUTSIDERS, rng.randint(1, len(OUTSIDERS)))]
    rng.shuffle(parties)
    terms = body.get("terms") if isinstance(body.get("terms"), dict) else {}
    starts_on, ends_on = _date(terms.get("starts_on")), _date(terms.get("ends_on"))
    if starts_on and ends_on and ends_on < starts_on:
        starts_on, ends_on = ends_on, starts_on
    commitments = [c for c in body.get("commitments") or [] if isinstance(c, dict)][:5] or [{}]
    content: dict[str, Any] = {
        "title": _text(body.get("title"), "Kiezküche", 500),
        "purpose": _text(body.get("purpose"), "Mittagessen für Nachbarn", 20_000),
        "parties": parties,
        "terms": {
            "text": _text(terms.get("text"), "Ohne Geld", 20_000),
            "starts_on": starts_on,
            "ends_on": ends_on,
        },
        "commitments": [],
    }
    for item in commitments:
        debtor = rng.choice(parties)
        beneficiaries = [p for p in parties if p != debtor]
        beneficiary = rng.choice(beneficiaries) if rng.random() < 0.8 else None
        content["commitments"].append(
            {
                "debtor": debtor,
                "beneficiary": beneficiary,
                "kind": item.get("kind") if item.get("kind") in _KINDS else rng.choice(_KINDS),
                "quantity": _quantity(item.get("quantity"), rng),
                "unit": item["unit"]
                if isinstance(item.get("unit"), str) and _UNIT.match(item["unit"])
                else "hours",
                "description": _text(item.get("description"), "Kochen mit Azubis", 20_000),
                "due_on": _date(item.get("due_on")),
            }
        )
    if rationale:
        content["rationale"] = _text(body.get("rationale"), "Neu gefasst", 20_000)
    return content


def _valid_market(body: dict[str, Any]) -> dict[str, Any]:
    """A market the API accepts, keeping what of the generated body fits: its roles are
    seeded parties (a generated party id names nobody)."""
    parties = [partner["party_id"] for partner in PARTNERS.values()]
    return {
        "title": _text(body.get("title"), "Marktplatz", 500),
        "format": body.get("format")
        if body.get("format") in ("marketplace", "action_day", "round_table")
        else "marketplace",
        "starts_at": "2026-06-01T16:00:00+02:00",
        "ends_at": "2026-06-01T18:00:00+02:00",
        "organisers": parties[:1],
        "brokers": parties[1:2],
        "notaries": [],
    }


def _client(case: Any) -> httpx.Client:
    authorization = _header(case, "Authorization") or ""
    return httpx.Client(base_url=BASE_URL, headers={"Authorization": authorization}, timeout=30)


def _current(case: Any, role: str) -> httpx.Response | None:
    """The agreement as the caller reads it, unless the other partner is one of its parties.

    The peer's reads of the caller's objects must be refused; an agreement naming both
    partners is shared by design, so it is left to the fuzzer as generated.
    """
    agreement_id = case.path_parameters.get("agreement_id")
    if not isinstance(agreement_id, str):
        return None
    with _client(case) as client:
        response = client.get(f"/v1/agreements/{agreement_id}")
    if response.status_code != 200:
        return None
    peers = {p["party_id"] for name, p in PARTNERS.items() if name != role}
    if peers & {party["party_id"] for party in response.json()["parties"]}:
        return None
    return response


def _revisable(
    case: Any, role: str, current: httpx.Response | None, rng: random.Random
) -> httpx.Response | None:
    """An agreement the caller may revise: the generated one while it is still a proposal,
    else a fresh proposal of the caller's own.

    Only a proposal can be revised. The fuzzer signs and withdraws the seeded agreements
    at moments that vary between runs (two workers), so without this a completed revision
    met a proposal in some runs and none in others.
    """
    if current is not None and current.json().get("status") == "proposed":
        return current
    content = _valid_content({}, PARTNERS[role]["party_id"], rng, rationale=False)
    with _client(case) as client:
        proposed = client.post("/v1/agreements", json=content)
    if proposed.status_code != 201:
        return None
    case.path_parameters["agreement_id"] = proposed.json()["id"]
    return proposed


def _signed_body(case: Any, role: str, current: httpx.Response) -> dict[str, Any] | None:
    """A real signature of the latest revision by the caller's seeded key."""
    revision = current.json()["revision"]
    agreement_id = case.path_parameters["agreement_id"]
    with _client(case) as client:
        payload = client.get(f"/v1/agreements/{agreement_id}/revisions/{revision}/signing-payload")
    if payload.status_code != 200:
        return None
    partner = PARTNERS[role]
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(partner["private_key"]))
    signature = base64.b64encode(key.sign(payload.content)).decode()
    return {"revision": revision, "key_id": partner["key_id"], "signature": signature}


def _body_key(label: str, case: Any) -> str:
    """An Idempotency-Key that only this operation, path and body are sent with."""
    material = json.dumps([label, case.path_parameters, case.body], sort_keys=True)
    return "fuzz-" + hashlib.sha256(material.encode()).hexdigest()


def _record(entry: dict[str, Any]) -> None:
    line = json.dumps(entry) + "\n"
    with _lock, TRAFFIC.open("a", encoding="utf-8") as output:
        output.write(line)


def _protect(case: Any, label: str) -> None:
    """Send a revocation of a seeded token or key for an id that does not exist."""
    name = "token_id" if label == REVOKE_TOKEN else "key_id"
    protected = PROTECTED_TOKEN_IDS if label == REVOKE_TOKEN else PROTECTED_KEY_IDS
    value = case.path_parameters.get(name)
    if value in protected:
        case.path_parameters[name] = _unknown_id(value)
        _record({"op": label, "protected": value})


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Protect the seeded identities; complete some positive cases into accepted ones."""
    label = case.operation.label
    if label in (REVOKE_TOKEN, REVOKE_KEY):
        _protect(case, label)
        return
    role = _role(_header(case, "Authorization"))
    if label == SCHEDULE_MARKET and role == "admin" and _is_positive(case):
        if isinstance(case.body, dict) and _rng(case).random() < ASSIST:
            case.body = _valid_market(case.body)
        return
    if role not in PARTNERS or not _is_positive(case):
        return
    rng = _rng(case)
    completed = False
    if label == REGISTER_KEY and rng.random() < ASSIST:
        # A new key of the caller's own party, which the fuzzer may then revoke for real.
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        party_id = PARTNERS[role]["party_id"]
        public_key, proof = key_registration(key, party_id)
        case.path_parameters["party_id"] = party_id
        case.body = {"public_key": public_key, "proof": proof}
        completed = True
    if label in CONTENT_WRITES and isinstance(case.body, dict) and rng.random() < ASSIST:
        case.body = _valid_content(
            case.body, PARTNERS[role]["party_id"], rng, rationale=label != PROPOSE
        )
        completed = True
    if label in CURRENT_VERSION_WRITES and rng.random() < ASSIST:
        current = _current(case, role)
        if label == REVISE and completed:
            current = _revisable(case, role, current, rng)
        if current is not None:
            _set_header(case, "If-Match", current.headers["ETag"])
            if label == SIGN and rng.random() < ASSIST:
                signed = _signed_body(case, role, current)
                if signed is not None:
                    case.body = signed
    if completed and _header(case, "Idempotency-Key") is not None:
        # A generated key is a short string other cases send with other bodies (422 by
        # design): a completed write gets a key of its own.
        _set_header(case, "Idempotency-Key", _body_key(label, case))


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Append the answer to the traffic file: operation, seeded role (if any), status."""
    authorization = response.request.headers.get("Authorization")
    _record(
        {
            "op": case.operation.label,
            "role": _role(authorization),
            "auth": authorization is not None,
            "status": response.status_code,
        }
    )
