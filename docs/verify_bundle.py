"""Check a TRIS evidence bundle with nothing but hashlib, json, base64 and cryptography.

Usage: python verify_bundle.py BUNDLE.json SERVER_KEY
SERVER_KEY is the server's SHA-256 fingerprint (or base64 public key) from GET /v1/server-key.
Prints each check; exits 1 if any fails, 3 when all pass but no SERVER_KEY was given
(UNANCHORED: a forger's own keys would pass too). See docs/verification.md.
"""

import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def jcs(value):
    # RFC 8785 for TRIS's JSON: no floats and ASCII keys (see docs/verification.md).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data):
    return hashlib.sha256(data).digest()


def b64(text):
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise ValueError("not canonical base64")
    return raw


def signed(public_key_b64, signature_b64, message):
    try:
        Ed25519PublicKey.from_public_bytes(b64(public_key_b64)).verify(b64(signature_b64), message)
        return True
    except Exception:
        return False


def key_id(public_key_b64):
    return sha256(b64(public_key_b64)).hex()[:16]


def event_hash(e):
    record = {"aggregate_id": e["aggregate_id"], "version": e["version"], "topic": e["topic"],
              "state": json.loads(e["state"]), "prev_hash": e["prev_hash"]}
    return sha256(jcs(record)).hex()


def included(leaf, index, size, path, root):  # RFC 9162, section 2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def unwrap(value):  # the event library stores typed values as {"_type_": ..., "_data_": ...}
    return value["_data_"] if isinstance(value, dict) and "_data_" in value else value


def loose_b64(text):  # a key as a party sent it: standard or URL-safe, padded or not
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def proven(party, public, state):  # the key's signature over {party_id, public_key, purpose}
    proof, sent = unwrap(state.get("proof")), state.get("proof_public_key")
    statement = {"party_id": party, "public_key": sent, "purpose": "tris-signing-key"}
    return proof is not None and loose_b64(sent) == b64(public) and signed(
        public, proof, jcs(statement))


def proof_holds(e, p, cp):
    return p["leaf_index"] == e["leaf_index"] and p["tree_size"] == cp["tree_size"] and included(
        sha256(b"\x00" + bytes.fromhex(e["hash"])), p["leaf_index"], p["tree_size"],
        [bytes.fromhex(h) for h in p["path"]], bytes.fromhex(cp["root_hash"]))


def checks(raw, pinned=None):
    b = json.loads(raw)
    layout = json.dumps(b, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    yield "layout", raw == layout.encode()
    yield "format", b["format"] == "tris-evidence/2"
    server = b["server_public_key"]
    fingerprint = sha256(b64(server)).hex()  # what GET /v1/server-key calls `fingerprint`
    yield "server key", key_id(server) == b["server_key_id"] and pinned in (
        None, fingerprint, server)
    rest = {k: v for k, v in b.items() if k != "bundle_signature"}
    statement = {"format": "tris-evidence/2", "bundle_sha256": sha256(jcs(rest)).hex()}
    yield "bundle signature", signed(server, b["bundle_signature"], jcs(statement))
    cp = b["checkpoint"]
    statement = {"log": "tris", "tree_size": cp["tree_size"], "root_hash": cp["root_hash"],
                 "issued_at": cp["issued_at"]}
    yield "checkpoint signature", cp["key_id"] == b["server_key_id"] and signed(
        server, cp["signature"], jcs(statement))
    events, prev = b["events"], ""
    for n, e in enumerate(events, start=1):
        yield f"event {n} hash", e["aggregate_id"] == b["agreement_id"] and e["version"] == n \
            and e["prev_hash"] == prev and event_hash(e) == e["hash"]
        prev = e["hash"]
    yield "chain head", b["chain_head"] == prev
    yield "log order", all(x["position"] < y["position"] and x["leaf_index"] < y["leaf_index"]
                           for x, y in zip(events, events[1:], strict=False))
    proofs = b["inclusion_proofs"]
    yield "one proof per event", len(proofs) == len(events)
    for e, p in zip(events, proofs, strict=False):
        yield f"event {e['version']} included", proof_holds(e, p, cp)
    # The parties' key registrations and revocations, in the same log under the same root.
    key_events, key_proofs = b["key_events"], b["key_inclusion_proofs"]
    yield "one proof per key event", len(key_proofs) == len(key_events)
    yield "key events in log order", all(x["leaf_index"] < y["leaf_index"] and x["position"] <
                                         y["position"] for x, y in zip(key_events, key_events[1:]))
    notaries = b.get("notaries", [])  # market notaries who countersigned
    registered, owner = {}, {}
    parties = [p["party_id"] for p in b["parties"]] + [p["party_id"] for p in notaries]
    for e, p in zip(key_events, key_proofs, strict=False):
        party, kind, state = e["aggregate_id"], e["topic"].rsplit(".", 1)[1], json.loads(e["state"])
        yield f"key event {party} {e['version']}", party in parties and event_hash(e) == \
            e["hash"] and e["topic"].startswith("tris.domain.party:Party.SigningKey") and \
            proof_holds(e, p, cp)
        if kind == "SigningKeyRegistered":
            public = unwrap(state["public_key"])
            yield f"key {state['key_id']} is its key's id", key_id(public) == state["key_id"]
            registered[(party, state["key_id"])] = {"key_id": state["key_id"], "public_key": public,
                "revoked": False, "proven": proven(party, public, state), "at": e["leaf_index"]}
            owner.setdefault(public, party)
        elif kind == "SigningKeyRevoked" and (party, state["key_id"]) in registered:
            registered[(party, state["key_id"])].update(revoked=True, until=e["leaf_index"])
    contents, sectors, signatures, notarised = {}, {}, [], []
    for e in events:
        kind, state = e["topic"].rsplit(".", 1)[1], json.loads(e["state"])
        if kind in ("Proposed", "ProposedAtMarket", "Revised", "AmendmentProposed"):
            contents[state.get("revision", 1)] = unwrap(state["content"])
            sectors.update({k: unwrap(v) for k, v in state["party_sectors"].items()})
        if kind in ("Signed", "Notarised"):
            (signatures if kind == "Signed" else notarised).append((state["revision"], unwrap(
                state["actor"])["party_id"], state["key_id"], unwrap(state["signature"]),
                e["leaf_index"]))

    def keys_of(p):
        return [{k: v for k, v in key.items() if k not in ("at", "until")}
                for (party, _), key in registered.items() if party == p["party_id"]]
    yield "party keys", all(p["sector"] == sectors.get(p["party_id"]) and p["keys"] == keys_of(
        p) for p in b["parties"]) and all(p["keys"] == keys_of(p) for p in notaries) and [
        p["party_id"] for p in notaries] == list(dict.fromkeys(n[1] for n in notarised))
    listed = []
    for r in b["revisions"]:
        n, content = r["number"], r["content"]
        payload = jcs({"agreement_id": b["agreement_id"], "revision": n, "content": content})
        yield f"revision {n}", contents.get(n) == content and r["signing_payload"].encode() == \
            payload and r["content_hash"] == sha256(jcs(content)).hex()
        listed += [(n, s["party_id"], s["key_id"], s["signature"]) for s in r["signatures"]]
        listed += [("notary", n, s["party_id"], s["key_id"], s["signature"])
                   for s in r.get("notarisations", [])]
    yield "revisions as recorded", sorted(contents) == [r["number"] for r in b["revisions"]] \
        and sorted(map(str, listed)) == sorted(map(str, [s[:4] for s in signatures] + [
            ("notary", *s[:4]) for s in notarised]))
    for n, party, kid, signature, leaf in signatures + notarised:
        # The key was the signer's (registered by it first, before signing, not yet revoked).
        key = registered.get((party, kid), {"at": leaf, "public_key": None})
        yield f"key of {party} for revision {n}", key["at"] < leaf < key.get("until", leaf + 1) \
            and owner.get(key["public_key"]) == party
        payload = jcs({"agreement_id": b["agreement_id"], "revision": n, "content": contents[n]})
        yield f"signature of revision {n} by {party}", key["public_key"] is not None and signed(
            key["public_key"], signature, payload)


def main():
    with open(sys.argv[1], "rb") as file:
        raw = file.read()
    results = []
    try:
        for name, ok in checks(raw, sys.argv[2] if len(sys.argv) > 2 else None):
            results.append(ok)
            print("PASS" if ok else "FAIL", name)
    except Exception as exc:  # a damaged bundle may not even parse
        results.append(False)
        print("FAIL", "bundle is malformed:", repr(exc))
    if not all(results):
        print("NOT VERIFIED")
        sys.exit(1)
    if len(sys.argv) < 3:  # consistent, but a forger's own keys would be consistent too
        print("UNANCHORED: pass the server's SHA-256 fingerprint or public key")
        sys.exit(3)
    print("VERIFIED")


if __name__ == "__main__":
    main()
