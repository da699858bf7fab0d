"""A public key speaks for one party, on both backends: two parties racing for one key, keys
registered before proofs (replayed from the golden export of version 1), and their owners."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.commands import gate_saves
from tests.support.scenario import Member
from tests.support.trio import ServicesFactory, Trio
from tris.application.access import Principal, Role
from tris.application.opendata.replay import replay
from tris.application.store import Outcome
from tris.bootstrap import Services
from tris.domain.errors import TrisError
from tris.domain.proofs.offline import verify_bundle
from tris.domain.proofs.signed import render_bundle
from tris.domain.signing import key_registration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "export-v1.ndjson"


def test_two_parties_racing_for_one_key_cannot_both_have_it(
    open_services: ServicesFactory, trio: Trio
) -> None:
    """Both pass the check before either commits; the key's row lets only one commit."""
    first, second = open_services(), open_services()
    barrier = threading.Barrier(2)
    for services in (first, second):
        gate_saves(services, lambda: barrier.wait(timeout=20))
    shared = Ed25519PrivateKey.generate()
    results: dict[str, Outcome | TrisError] = {}

    def register(services: Services, member: Member) -> None:
        party_id = member.party_id
        try:
            results[party_id] = services.parties.register_signing_key(
                member.ctx(), party_id, *key_registration(shared, party_id)
            )
        except TrisError as error:
            results[party_id] = error

    threads = [
        threading.Thread(target=register, args=(first, trio.firm)),
        threading.Thread(target=register, args=(second, trio.assoc)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    won = [p for p, r in results.items() if isinstance(r, Outcome)]
    lost = [r for r in results.values() if isinstance(r, TrisError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert type(lost[0]).__name__ == "SigningKeyTakenError"
    reader = open_services()
    holders = [
        member.party_id
        for member in (trio.firm, trio.assoc)
        if len(reader.parties.get(reader_admin(reader), member.party_id)["signing_keys"]) == 2
    ]
    assert holders == won


def reader_admin(services: Services) -> Principal:
    """An operator of that process."""
    issued = services.tokens.issue(Role.ADMIN)
    return Principal(issued.token_id, Role.ADMIN)


def test_keys_registered_before_proofs_show_unproven_and_keep_their_owner(
    open_services: ServicesFactory,
) -> None:
    """The golden export holds version-1 key registrations, made without proofs."""
    target = open_services()
    replay(target, lambda: GOLDEN.open(encoding="utf-8", newline="\n"))
    # The next start claims the keys the replayed events registered.
    services = open_services()
    admin = reader_admin(services)
    parties = services.parties.list(admin)
    keys = [(p["id"], k) for p in parties for k in p["signing_keys"]]

    assert keys
    assert all(k["proven"] is False for _, k in keys)
    for party_id, key in keys:
        raw = base64.b64decode(key["public_key"])
        assert services.store.key_owners.owner(raw) == party_id
    assert services.store.claim_registered_keys() == 0  # caught up: nothing read again


def test_bundles_over_keys_registered_before_proofs_verify_and_say_unproven(
    open_services: ServicesFactory,
) -> None:
    services = open_services()
    replay(services, lambda: GOLDEN.open(encoding="utf-8", newline="\n"))
    services.integrity.issue_checkpoint()
    auditor = Principal("auditor", Role.AUDITOR)
    signed = sorted(
        {
            event["aggregate_id"]
            for event in map(json.loads, GOLDEN.read_text(encoding="utf-8").splitlines()[1:])
            if (event.get("aggregate_type"), event.get("type")) == ("Agreement", "Signed")
        }
    )
    assert signed
    for agreement_id in signed:
        bundle = services.integrity.evidence(auditor, agreement_id)
        keys = [k for p in bundle["parties"] for k in p["keys"]]
        assert keys and all(k["proven"] is False for k in keys)
        checks = verify_bundle(render_bundle(bundle))
        assert [c.name for c in checks if not c.ok] == []
