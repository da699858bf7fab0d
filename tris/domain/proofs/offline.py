"""Offline verification of an evidence bundle: no server, no database, only the file.

Every value of the bundle is covered by at least one check: recomputed (event hashes,
chain, payloads, content hashes, key ids), proven (inclusion under the signed root),
verified (checkpoint, party and bundle signatures), or compared with what the events
record (revisions, signatures, sectors). The file's exact bytes are covered by its fixed
layout, so no byte can change without some check failing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Collection
from typing import Any

from tris.domain.errors import BundleError
from tris.domain.proofs.chain import GENESIS, event_hash
from tris.domain.proofs.keys import (
    KEY_TOPICS,
    KeyHistory,
    read_key_history,
    signer_key_problems,
)
from tris.domain.proofs.memberships import (
    held_at_signature,
    is_membership_topic,
    plain,
    signed_on,
)
from tris.domain.proofs.merkle import leaf_hash, verify_inclusion
from tris.domain.proofs.record import (
    AgreementRecord,
    content_digest,
    payload_bytes,
    read_record,
    signature_checks,
)
from tris.domain.proofs.signed import (
    BUNDLE_FORMAT,
    LOG_NAME,
    Check,
    bundle_payload,
    checkpoint_payload,
    render_bundle,
    server_signature_valid,
    strict_base64,
)
from tris.domain.signing import canonical_json, key_fingerprint

Bundle = dict[str, Any]


def verify_bundle(
    raw: bytes, *, server_key: str | None = None, trusted: Collection[str] = ()
) -> list[Check]:
    """Every check of a bundle file's bytes.

    `server_key` and `trusted` anchor the result: server keys the verifier trusts, each as
    its full base64 public key or the hex SHA-256 fingerprint of its raw bytes. Without an
    anchor the server key check passes as `unanchored` (see `is_anchored`): the bundle is
    consistent, but nothing ties it to a server the verifier trusts.
    """
    anchors = frozenset([*trusted, *([server_key] if server_key is not None else [])])
    try:
        bundle = json.loads(raw.decode("utf-8"))
        if not isinstance(bundle, dict):
            raise BundleError("the bundle is not a JSON object")
    except (UnicodeDecodeError, ValueError, BundleError) as exc:
        return [Check("bundle parses", False, f"not a JSON object in UTF-8: {exc}")]
    checks = [Check("bundle parses", True, f"{len(raw)} bytes of JSON")]
    steps: list[tuple[str, Callable[[Bundle], str]]] = [
        ("bundle layout", _layout(raw)),
        ("format", _format),
        ("server key", _server_key(anchors)),
        ("bundle signature", _bundle_signature),
        ("checkpoint signature", _checkpoint_signature),
        ("event hashes", _event_hashes),
        ("chain", _chain),
        ("inclusion proofs", _inclusion),
        ("log order", _log_order),
        ("revisions match events", _revisions_match),
        ("signing payloads", _payloads),
        ("key events", _key_events),
        ("party keys", _party_keys),
        ("signer keys", _signer_keys),
    ]
    if "membership_events" in bundle:
        steps += [
            ("membership events", _membership_events),
            ("memberships at signatures", _memberships_at_signatures),
        ]
    for name, step in steps:
        checks.append(_run(name, step, bundle))
    checks += _signatures(bundle)
    return checks


def _run(name: str, step: Callable[[Bundle], str], bundle: Bundle) -> Check:
    try:
        return Check(name, True, step(bundle))
    except BundleError as exc:
        return Check(name, False, str(exc))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return Check(name, False, f"malformed bundle: {exc!r}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BundleError(message)


def _layout(raw: bytes) -> Callable[[Bundle], str]:
    def check(bundle: Bundle) -> str:
        # Rendered from its canonical form, which the server signs: an integer written as
        # a float (1.0) has the same canonical form as the integer, but not the same bytes.
        canonical = json.loads(canonical_json(bundle))
        _require(render_bundle(canonical) == raw, "the bytes differ from the bundle's fixed layout")
        return "the file is in the fixed layout (indent 2, sorted members, UTF-8, final newline)"

    return check


def _format(bundle: Bundle) -> str:
    _require(
        bundle["format"] != "tris-evidence/1",
        "a tris-evidence/1 bundle does not carry its signers' key events, so their keys "
        "cannot be anchored: fetch the bundle again",
    )
    _require(bundle["format"] == BUNDLE_FORMAT, f"format is not {BUNDLE_FORMAT}")
    return BUNDLE_FORMAT


UNANCHORED = "unanchored"


def key_fingerprint_sha256(public_key: bytes) -> str:
    """The full SHA-256 fingerprint of a raw public key, in hex: what a verifier pins."""
    return hashlib.sha256(public_key).hexdigest()


def parse_anchor(text: str) -> str:
    """A trusted server key as given by a verifier: the full base64 public key, or the hex
    SHA-256 fingerprint of its raw bytes (64 digits). A short key id is refused: 64 bits
    can be matched by a forger's key with enough work."""
    value = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return value.lower()
    raw = strict_base64(value)
    if raw is not None and len(raw) == 32:
        return key_fingerprint_sha256(raw)
    if re.fullmatch(r"[0-9a-fA-F]{16}", value):
        raise BundleError(
            f"{value} is a key id, not a pin: give the full public key or its SHA-256 "
            "fingerprint, both published at GET /v1/server-key"
        )
    raise BundleError(
        f"{value[:80]!r} is neither a base64 Ed25519 public key nor a SHA-256 fingerprint"
    )


def is_anchored(checks: list[Check]) -> bool:
    """True when the server key check passed against a key the verifier trusts."""
    return any(
        c.name == "server key" and c.ok and not c.detail.startswith(UNANCHORED) for c in checks
    )


def _server_key(anchors: frozenset[str]) -> Callable[[Bundle], str]:
    def check(bundle: Bundle) -> str:
        key_id = _key_id(bundle["server_public_key"])
        _require(key_id is not None, "server_public_key is not a raw Ed25519 key")
        _require(bundle["server_key_id"] == key_id, "server_key_id is not the key's id")
        raw = strict_base64(bundle["server_public_key"]) or b""
        fingerprint = key_fingerprint_sha256(raw)
        if not anchors:
            return (
                f"{UNANCHORED}: key {fingerprint} signed the bundle, but no trusted key was "
                "given to compare it with"
            )
        pins = {parse_anchor(anchor) for anchor in anchors}
        _require(fingerprint in pins, f"key {fingerprint} is not a trusted server key")
        return f"key {fingerprint}, a trusted server key"

    return check


def _key_id(public_key: object) -> str | None:
    """The id of a base64 raw Ed25519 public key (None when it is not one)."""
    raw = strict_base64(public_key)
    return key_fingerprint(raw) if raw is not None and len(raw) == 32 else None


def _bundle_signature(bundle: Bundle) -> str:
    _require(
        server_signature_valid(
            bundle["server_public_key"], bundle["bundle_signature"], bundle_payload(bundle)
        ),
        "the server's signature does not cover this content",
    )
    return "signed by the server key"


def _checkpoint_signature(bundle: Bundle) -> str:
    cp = bundle["checkpoint"]
    _require(cp["log"] == LOG_NAME, f"not a checkpoint of the {LOG_NAME} log")
    _require(cp["key_id"] == bundle["server_key_id"], "signed with another key")
    message = checkpoint_payload(cp["tree_size"], cp["root_hash"], cp["issued_at"])
    _require(
        server_signature_valid(bundle["server_public_key"], cp["signature"], message),
        "the checkpoint's signature does not verify",
    )
    return f"tree size {cp['tree_size']}, root {cp['root_hash']}, issued {cp['issued_at']}"


def _event_hashes(bundle: Bundle) -> str:
    events = bundle["events"]
    _require(bool(events), "the bundle has no events")
    bad = [
        str(e["version"])
        for e in events
        if e["aggregate_id"] != bundle["agreement_id"]
        or event_hash(e["aggregate_id"], e["version"], e["topic"], e["state"], e["prev_hash"])
        != e["hash"]
    ]
    _require(not bad, f"versions {', '.join(bad)} do not hash to their recorded hash")
    return f"{len(events)} events recomputed"


def _chain(bundle: Bundle) -> str:
    prev = GENESIS
    for expected, event in enumerate(bundle["events"], start=1):
        _require(event["version"] == expected, f"version {expected} is missing")
        _require(event["prev_hash"] == prev, f"version {expected} does not link to its predecessor")
        prev = event["hash"]
    _require(bundle["chain_head"] == prev, "chain_head is not the last event's hash")
    return f"versions 1 to {len(bundle['events'])} link up to head {prev}"


def _inclusion(bundle: Bundle) -> str:
    proofs = bundle["inclusion_proofs"]
    _require(len(proofs) == len(bundle["events"]), "not one inclusion proof per event")
    _prove_included(bundle, bundle["events"], proofs)
    return f"{len(proofs)} events are leaves under root {bundle['checkpoint']['root_hash']}"


def _prove_included(bundle: Bundle, events: list[Any], proofs: list[Any]) -> None:
    cp = bundle["checkpoint"]
    root = bytes.fromhex(cp["root_hash"])
    _require(root.hex() == cp["root_hash"], "root_hash is not lowercase hex")
    for event, proof in zip(events, proofs, strict=True):
        name = f"{event['aggregate_id']} version {event['version']}"
        _require(proof["leaf_index"] == event["leaf_index"], f"proof of {name} is another leaf's")
        _require(proof["tree_size"] == cp["tree_size"], f"proof of {name} is for another tree")
        path = [bytes.fromhex(p) for p in proof["path"]]
        _require([p.hex() for p in path] == proof["path"], "a proof path is not lowercase hex")
        leaf = leaf_hash(bytes.fromhex(event["hash"]))
        _require(
            verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root),
            f"{name} is not included under the checkpoint's root",
        )


def _membership_events(bundle: Bundle) -> str:
    events, proofs = bundle["membership_events"], bundle["membership_inclusion_proofs"]
    _require(len(proofs) == len(events), "not one inclusion proof per membership event")
    signers = {s.party_id for s in _record(bundle).signatures}
    taken = {e["leaf_index"] for e in [*bundle["events"], *bundle["key_events"]]}
    last: dict[str, tuple[int, str]] = {}
    for event in events:
        name = f"membership {event['aggregate_id']} version {event['version']}"
        _require(is_membership_topic(event["topic"]), f"{name} is not a membership event")
        _require(event["leaf_index"] not in taken, f"{name} claims another event's leaf")
        _require(
            event_hash(
                event["aggregate_id"], event["version"], event["topic"], event["state"],
                event["prev_hash"],
            )
            == event["hash"],
            f"{name} does not hash to its recorded hash",
        )  # fmt: skip
        version, prev = last.get(event["aggregate_id"], (0, GENESIS))
        _require(event["version"] == version + 1, f"{name} does not follow version {version}")
        _require(event["prev_hash"] == prev, f"{name} does not link to its predecessor")
        last[event["aggregate_id"]] = (event["version"], event["hash"])
        if event["version"] == 1:
            member = plain(json.loads(event["state"]))["terms"]["member_id"]
            _require(member in signers, f"{name} is a membership of no signing party")
    for earlier, later in itertools.pairwise(events):
        _require(earlier["leaf_index"] < later["leaf_index"], "membership events out of log order")
    _prove_included(bundle, events, proofs)
    return (
        f"{len(events)} events of {len(last)} memberships recomputed, chained and proven "
        "under the checkpoint's root"
    )


def _memberships_at_signatures(bundle: Bundle) -> str:
    record = _record(bundle)
    events = {e["version"]: e for e in bundle["events"]}
    folded = [
        (e["aggregate_id"], e["leaf_index"], e["topic"], json.loads(e["state"]))
        for e in bundle["membership_events"]
    ]
    claims = bundle["memberships_at_signatures"]
    _require(len(claims) == len(record.signatures), "not one membership claim per signature")
    for claim, signature in zip(claims, record.signatures, strict=True):
        who = f"revision {signature.revision}'s signature by {signature.party_id}"
        signed = events[signature.version]
        day = signed_on(json.loads(signed["state"]))
        _require(
            (claim["revision"], claim["party_id"]) == (signature.revision, signature.party_id),
            f"the membership claims do not follow the signatures ({who})",
        )
        _require(
            claim["signed_leaf"] == signed["leaf_index"] and claim["signed_on"] == day.isoformat(),
            f"{who}: the claim names another moment than the signature's",
        )
        held = held_at_signature(folded, signature.party_id, signed["leaf_index"], day)
        _require(claim["memberships"] == held, f"{who}: the memberships are not those held then")
    held_count = sum(len(c["memberships"]) for c in claims)
    return (
        f"the memberships held at each of {len(claims)} signatures recomputed from their "
        f"events ({held_count} in all)"
    )


def _key_events(bundle: Bundle) -> str:
    events, proofs = bundle["key_events"], bundle["key_inclusion_proofs"]
    _require(len(proofs) == len(events), "not one inclusion proof per key event")
    parties = set(_record(bundle).signer_ids)
    taken = {e["leaf_index"] for e in bundle["events"]}
    for event in events:
        name = f"{event['aggregate_id']} version {event['version']}"
        _require(event["topic"] in KEY_TOPICS, f"{name} is not a key event")
        _require(event["aggregate_id"] in parties, f"{name} is not an event of a party")
        _require(event["leaf_index"] not in taken, f"{name} claims another event's leaf")
        _require(
            event_hash(
                event["aggregate_id"],
                event["version"],
                event["topic"],
                event["state"],
                event["prev_hash"],
            )
            == event["hash"],
            f"{name} does not hash to its recorded hash",
        )
    for earlier, later in itertools.pairwise(events):
        _require(
            earlier["leaf_index"] < later["leaf_index"] and earlier["position"] < later["position"],
            "the key events are not in log order",
        )
    _prove_included(bundle, events, proofs)
    return f"{len(events)} key events recomputed and proven under the checkpoint's root"


def _key_history(bundle: Bundle) -> KeyHistory:
    history = read_key_history(
        (e["aggregate_id"], e["leaf_index"], e["topic"], json.loads(e["state"]))
        for e in bundle["key_events"]
    )
    _require(not history.problems, "; ".join(history.problems))
    return history


def _log_order(bundle: Bundle) -> str:
    # An aggregate's events enter the global log in version order: any other order means
    # positions were changed after the events were logged.
    events = bundle["events"]
    for earlier, later in itertools.pairwise(events):
        _require(
            earlier["position"] < later["position"],
            f"version {later['version']} is stored before version {earlier['version']}",
        )
        _require(
            earlier["leaf_index"] < later["leaf_index"],
            f"version {later['version']} was logged before version {earlier['version']}",
        )
    return "positions and leaves follow the versions"


def _record(bundle: Bundle) -> AgreementRecord:
    states = [(e["version"], e["topic"], json.loads(e["state"])) for e in bundle["events"]]
    record = read_record(bundle["agreement_id"], states)
    _require(not record.problems, "; ".join(record.problems))
    return record


def _revisions_match(bundle: Bundle) -> str:
    record = _record(bundle)
    given = {r["number"]: r for r in bundle["revisions"]}
    _require(len(given) == len(bundle["revisions"]), "a revision number appears twice")
    _require(
        sorted(given) == sorted(record.revisions), "revisions differ from those the events record"
    )
    for number, revision in record.revisions.items():
        _require(
            given[number]["content"] == revision.content, f"revision {number}'s content differs"
        )
        listed = sorted(
            (s["party_id"], s["key_id"], s["signature"]) for s in given[number]["signatures"]
        )
        recorded = sorted(
            (s.party_id, s.key_id, s.signature) for s in record.signatures if s.revision == number
        )
        _require(listed == recorded, f"revision {number}'s signatures differ from the events'")
        listed = sorted(
            (n["party_id"], n["key_id"], n["signature"])
            for n in given[number].get("notarisations", [])
        )
        recorded = sorted(
            (n.party_id, n.key_id, n.signature)
            for n in record.notarisations
            if n.revision == number
        )
        _require(listed == recorded, f"revision {number}'s notarisations differ from the events'")
    notarised = f" and {len(record.notarisations)} notarisations" if record.notarisations else ""
    return f"{len(given)} revisions and {len(record.signatures)} signatures{notarised} as recorded"


def _payloads(bundle: Bundle) -> str:
    for revision in bundle["revisions"]:
        number = revision["number"]
        payload = payload_bytes(bundle["agreement_id"], number, revision["content"])
        _require(
            revision["signing_payload"].encode("utf-8") == payload,
            f"revision {number}'s signing payload is not its content's",
        )
        _require(
            revision["content_hash"] == content_digest(revision["content"]),
            f"revision {number}'s content hash is wrong",
        )
    return "each signing payload and content hash recomputed from its content"


def _party_keys(bundle: Bundle) -> str:
    record = _record(bundle)
    sectors: dict[str, str] = {}
    for number in sorted(record.revisions):
        sectors.update(record.revisions[number].party_sectors)
    history = _key_history(bundle)
    ids = [p["party_id"] for p in bundle["parties"]]
    _require(ids == record.party_ids, "the parties are not those the events name")
    for party in bundle["parties"]:
        _require(party["sector"] == sectors.get(party["party_id"]), "a party's sector differs")
        _require(
            party["keys"] == history.of_party(party["party_id"]),
            f"party {party['party_id']}'s keys are not those its key events register",
        )
        _require(isinstance(party["name"], str), "a party has no name")
    notaries = bundle.get("notaries", [])
    _require(
        [n["party_id"] for n in notaries] == record.notary_ids,
        "the notaries are not those the events name",
    )
    for notary in notaries:
        _require(
            notary["keys"] == history.of_party(notary["party_id"]),
            f"notary {notary['party_id']}'s keys are not those its key events register",
        )
    return (
        f"{len(ids)} parties; each key, its proof of possession and its revocation "
        "recomputed from the key events"
    )


def _signer_keys(bundle: Bundle) -> str:
    record = _record(bundle)
    leaves = {e["version"]: e["leaf_index"] for e in bundle["events"]}
    problems = signer_key_problems(record, leaves, _key_history(bundle))
    _require(not problems, "; ".join(problems))
    return (
        f"each of {len(record.signatures) + len(record.notarisations)} signatures was made "
        "with a key its party "
        "registered before and had not revoked"
    )


def _signatures(bundle: Bundle) -> list[Check]:
    try:
        record = _record(bundle)
        keys = {
            (party["party_id"], key["key_id"]): strict_base64(key["public_key"]) or b""
            for party in [*bundle["parties"], *bundle.get("notaries", [])]
            for key in party["keys"]
        }
    except (BundleError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Check("party signatures", False, f"cannot be checked: {exc!r}")]
    return signature_checks(record, keys) or [
        Check("party signatures", True, "no revision has been signed yet")
    ]
