"""Evidence bundles: built from the store, verified offline, and no byte changes unnoticed."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.integrity import RawDatabase, Story
from tests.support.scenario import World
from tris.application.access import Principal, Role
from tris.application.integrity import evidence
from tris.bootstrap import Services
from tris.domain.errors import AgreementNotFoundError
from tris.domain.proofs.offline import is_anchored, verify_bundle
from tris.domain.proofs.signed import Check, bundle_payload, checkpoint_payload, render_bundle
from tris.domain.signing import key_fingerprint
from tris.domain.values import Sector

AUDITOR = Principal("auditor-token", Role.AUDITOR)


@pytest.fixture
def bundle(services: Services, story: Story) -> dict[str, Any]:
    return services.integrity.evidence(AUDITOR, story.agreement_id)


def failed(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


def resign(services: Services, bundle: dict[str, Any]) -> bytes:
    """Sign a changed bundle again with the real server key, as a dishonest operator could."""
    key = services.integrity.log.server_key
    bundle["bundle_signature"] = key.sign(bundle_payload(bundle))
    return render_bundle(bundle)


def test_a_bundle_holds_the_whole_record_and_verifies_offline(
    services: Services, story: Story, bundle: dict[str, Any]
) -> None:
    raw = RawDatabase(services)
    stored = raw.events(story.agreement_id)
    assert bundle["format"] == "tris-evidence/2"
    assert [e["version"] for e in bundle["events"]] == [v for v, _, _, _ in stored]
    assert [e["state"].encode() for e in bundle["events"]] == [s for _, _, s, _ in stored]
    assert [r["number"] for r in bundle["revisions"]] == [1, 2, 3]
    assert [len(r["signatures"]) for r in bundle["revisions"]] == [0, 3, 3]
    assert {p["party_id"] for p in bundle["parties"]} == set(story.parties)
    assert bundle["chain_head"] == bundle["events"][-1]["hash"]
    assert bundle["checkpoint"]["tree_size"] >= max(e["leaf_index"] for e in bundle["events"])
    assert bundle["server_key_id"] == services.integrity.server_key()["key_id"]

    checks = verify_bundle(render_bundle(bundle))
    assert failed(checks) == {}
    assert sum(c.name.startswith("signature of revision") for c in checks) == 6


def test_every_flipped_byte_makes_the_bundle_fail(bundle: dict[str, Any]) -> None:
    raw = render_bundle(bundle)
    # A spread of positions over the whole file (white space, keys, values, signatures),
    # each flipped by the low bit and by the case bit.
    picks = random.Random(20260601).sample(range(len(raw)), 1000)
    for index in sorted({0, len(raw) - 1, *picks}):
        for bit in (0x01, 0x20):
            damaged = bytearray(raw)
            damaged[index] ^= bit
            assert failed(verify_bundle(bytes(damaged))), f"flip at byte {index} went unnoticed"


def test_a_rearranged_bundle_fails_though_its_json_means_the_same(bundle: dict[str, Any]) -> None:
    # Members in another order, or an integer written as a float, leave the JSON's meaning
    # and its canonical form (which the server signs) as they were: the layout must tell.
    moved = dict(reversed(list(bundle.items())))
    moved_raw = (json.dumps(moved, indent=2, ensure_ascii=False) + "\n").encode()
    respelled = json.loads(json.dumps(bundle))
    respelled["events"][0]["version"] = 1.0
    for raw in (moved_raw, render_bundle(respelled)):
        assert raw != render_bundle(bundle)
        assert set(failed(verify_bundle(raw))) == {"bundle layout"}


def test_changed_content_fails_its_own_checks_even_when_signed_again(
    services: Services, bundle: dict[str, Any]
) -> None:
    changed = json.loads(json.dumps(bundle))
    changed["events"][0]["state"] = changed["events"][0]["state"].replace("Kiezküche", "Kiez")
    bad = failed(verify_bundle(resign(services, changed)))
    assert "bundle signature" not in bad
    assert "versions 1 do not hash" in bad["event hashes"]

    forged = json.loads(json.dumps(bundle))
    forged["revisions"][2]["content"]["title"] = "Etwas anderes"
    bad = failed(verify_bundle(resign(services, forged)))
    assert set(bad) >= {"revisions match events", "signing payloads"}
    assert not any(name.startswith("signature of revision") for name in bad)

    reordered = json.loads(json.dumps(bundle))
    reordered["events"][1], reordered["events"][2] = reordered["events"][2], reordered["events"][1]
    bad = failed(verify_bundle(resign(services, reordered)))
    assert "chain" in bad and "inclusion proofs" in bad


def test_a_bundle_from_another_key_fails_when_the_server_key_is_pinned(
    services: Services, bundle: dict[str, Any]
) -> None:
    real_key_id = bundle["server_key_id"]
    impostor = Ed25519PrivateKey.generate()
    raw_public = impostor.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    forged = json.loads(json.dumps(bundle))
    forged["server_public_key"] = base64.b64encode(raw_public).decode()
    forged["server_key_id"] = key_fingerprint(raw_public)
    cp = forged["checkpoint"]
    cp["key_id"] = forged["server_key_id"]
    message = checkpoint_payload(cp["tree_size"], cp["root_hash"], cp["issued_at"])
    cp["signature"] = base64.b64encode(impostor.sign(message)).decode()
    forged["bundle_signature"] = base64.b64encode(impostor.sign(bundle_payload(forged))).decode()
    raw = render_bundle(forged)

    real_pin = hashlib.sha256(base64.b64decode(bundle["server_public_key"])).hexdigest()
    unanchored = verify_bundle(raw)
    assert failed(unanchored) == {}  # self-consistent: only an anchor tells it apart
    assert not is_anchored(unanchored)
    assert set(failed(verify_bundle(raw, server_key=real_pin))) == {"server key"}
    assert set(failed(verify_bundle(raw, trusted=[bundle["server_public_key"]]))) == {"server key"}
    genuine = verify_bundle(render_bundle(bundle), server_key=real_pin)
    assert failed(genuine) == {} and is_anchored(genuine)
    # A key id (64 bits) is no pin: a forger could search for a key with the same id.
    assert set(failed(verify_bundle(render_bundle(bundle), server_key=real_key_id))) == {
        "server key"
    }


def test_only_parties_and_auditors_get_a_bundle(
    services: Services, world: World, story: Story
) -> None:
    outsider = world.add("Außenstehende AG", Sector.BUSINESS)
    with pytest.raises(AgreementNotFoundError):
        services.integrity.evidence(outsider.principal, story.agreement_id)
    with pytest.raises(AgreementNotFoundError):
        services.integrity.verification(outsider.principal, story.agreement_id)
    with pytest.raises(AgreementNotFoundError):
        services.integrity.evidence(AUDITOR, story.parties[0])  # a party is no agreement
    party = world.members["Kiezbäckerei GmbH"]
    assert services.integrity.evidence(party.principal, story.agreement_id)["agreement_id"]
    assert services.integrity.verification(party.principal, story.agreement_id)["ok"]


def test_signatures_made_with_a_key_revoked_later_still_verify(
    services: Services, world: World, story: Story
) -> None:
    firm = world.members["Kiezbäckerei GmbH"]
    services.parties.revoke_signing_key(firm.ctx(), firm.party_id, firm.key_id)
    assert services.integrity.verification(AUDITOR, story.agreement_id)["ok"]
    before = services.integrity.evidence(AUDITOR, story.agreement_id)
    # Keys are listed as of the bundle's checkpoint: the revocation is not under it yet.
    assert [k["revoked"] for p in before["parties"] for k in p["keys"]] == [False] * 3
    services.integrity.issue_checkpoint()
    bundle = services.integrity.evidence(AUDITOR, story.agreement_id)
    assert bundle["key_events"][-1]["topic"].endswith("Party.SigningKeyRevoked")
    keys = next(p for p in bundle["parties"] if p["party_id"] == firm.party_id)["keys"]
    assert keys == [
        {
            "key_id": firm.key_id,
            "public_key": keys[0]["public_key"],
            "revoked": True,
            "proven": True,
        }
    ]
    assert failed(verify_bundle(render_bundle(bundle))) == {}


def test_a_bundle_of_a_tampered_store_fails_offline(services: Services, story: Story) -> None:
    services.integrity.issue_checkpoint()
    raw = RawDatabase(services)
    raw.rewrite_chain(
        story.agreement_id, lambda v, s: s.replace(b'"quantity":"14"', b'"quantity":"1"')
    )
    bundle = services.integrity.evidence(AUDITOR, story.agreement_id)
    bad = failed(verify_bundle(render_bundle(bundle)))
    assert "inclusion proofs" in bad
    assert any(name.startswith("signature of revision 3") for name in bad)


def test_each_signers_key_is_anchored_by_its_partys_key_events(
    services: Services, story: Story, bundle: dict[str, Any]
) -> None:
    registrations = [e for e in bundle["key_events"] if e["topic"].endswith("KeyRegistered")]
    assert sorted(e["aggregate_id"] for e in registrations) == sorted(story.parties)
    assert len(bundle["key_inclusion_proofs"]) == len(bundle["key_events"])
    signed_at = min(
        e["leaf_index"] for e in bundle["events"] if e["topic"].endswith("Agreement.Signed")
    )
    assert all(e["leaf_index"] < signed_at for e in registrations)
    checks = {c.name: c for c in verify_bundle(render_bundle(bundle))}
    assert checks["key events"].ok and checks["signer keys"].ok and checks["party keys"].ok
    assert "registered before" in checks["signer keys"].detail


def test_a_signers_key_swapped_in_the_bundle_fails_even_when_signed_again(
    services: Services, bundle: dict[str, Any]
) -> None:
    # A dishonest operator (holding the real server key) lists a key of its own for a party
    # and signs the revision with it: the party's key events, proven under the checkpoint,
    # say which key the party registered.
    forger = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    swapped = json.loads(json.dumps(bundle))
    party = swapped["parties"][0]
    party["keys"][0]["public_key"] = public
    party["keys"][0]["key_id"] = key_fingerprint(base64.b64decode(public))
    bad = failed(verify_bundle(resign(services, swapped)))
    assert "party keys" in bad

    # Rewriting the registration event as well breaks its hash, or its proof under the root.
    registration = next(e for e in swapped["key_events"] if e["aggregate_id"] == party["party_id"])
    state = json.loads(registration["state"])
    state["public_key"]["_data_"] = public
    state["key_id"] = party["keys"][0]["key_id"]
    registration["state"] = json.dumps(state, separators=(",", ":"))
    bad = failed(verify_bundle(resign(services, swapped)))
    assert "key events" in bad

    # Leaving the party's key events out leaves its signatures without an anchored key.
    dropped = json.loads(json.dumps(bundle))
    keep = [
        i
        for i, e in enumerate(dropped["key_events"])
        if e["aggregate_id"] != dropped["parties"][0]["party_id"]
    ]
    dropped["key_events"] = [dropped["key_events"][i] for i in keep]
    dropped["key_inclusion_proofs"] = [dropped["key_inclusion_proofs"][i] for i in keep]
    dropped["parties"][0]["keys"] = []
    bad = failed(verify_bundle(resign(services, dropped)))
    assert "not registered by that party before" in bad["signer keys"]


def test_an_old_format_bundle_is_refused_with_a_reason(
    services: Services, bundle: dict[str, Any]
) -> None:
    old = json.loads(json.dumps(bundle))
    old["format"] = "tris-evidence/1"
    del old["key_events"], old["key_inclusion_proofs"]
    bad = failed(verify_bundle(resign(services, old)))
    assert "fetch the bundle again" in bad["format"]


def test_a_long_bundle_is_written_a_window_at_a_time_and_verifies(
    services: Services, world: World, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agreement of many deliveries: the writer never reads (nor holds) its whole history,
    and the pieces it sends are exactly the bundle's one layout."""
    firm = world.members["Kiezbäckerei GmbH"]
    agreements = services.agreements
    view = agreements.get(world.admin, story.agreement_id)
    commitment = view["content"]["commitments"][0]["id"]
    for day in range(1, 2 * evidence.WINDOW + 8):
        agreements.record_fulfilment(
            firm.ctx(), story.agreement_id, commitment, "1", date(2026, 5, 1), f"Tag {day}"
        )
    services.integrity.issue_checkpoint()
    reads: list[tuple[int, int] | None] = []
    real_read = evidence.read_stored

    def read_stored(store: Any, log: Any, key: Any, versions: Any = None) -> Any:
        if str(key) == story.agreement_id:
            reads.append(versions)
        return real_read(store, log, key, versions)

    monkeypatch.setattr(evidence, "read_stored", read_stored)
    writer = services.integrity.evidence_bundle(AUDITOR, story.agreement_id)
    pieces = list(writer.chunks())

    assert reads and None not in reads
    assert max(last - first + 1 for first, last in reads) <= evidence.WINDOW
    raw = b"".join(pieces)
    assert len(pieces) > 2 * evidence.WINDOW
    bundle = json.loads(raw)
    assert render_bundle(bundle) == raw
    assert len(bundle["events"]) == writer.version > 2 * evidence.WINDOW
    assert failed(verify_bundle(raw)) == {}
