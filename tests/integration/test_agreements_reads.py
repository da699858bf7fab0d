"""What parties and auditors read: revisions, signing payloads, diffs and the audit timeline."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from tests.support.scenario import World, draft
from tests.support.trio import Trio, busy_agreement, two_commitment_draft
from tris.domain.errors import RevisionNotFoundError
from tris.domain.signing import content_hash, signature_is_valid, signing_payload


def test_revisions_carry_hash_payload_and_signatures_with_their_keys(
    world: World, trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(world, trio)
    agreements = world.services.agreements
    loaded = world.services.store.agreement(agreement_id)

    revisions = agreements.revisions(world.admin, agreement_id)

    assert [r["number"] for r in revisions] == [1, 2, 3]
    assert [r["kind"] for r in revisions] == ["proposal", "revision", "amendment"]
    assert [r["state"] for r in revisions] == ["superseded", "in_force", "rejected"]
    assert revisions[1]["rationale"] == "Mehr Stunden, ein Raum"
    assert revisions[1]["author"] == trio.firm.party_id
    for view, revision in zip(revisions, loaded.revisions, strict=True):
        assert view["content_hash"] == content_hash(revision.content)
        assert view["content"] == revision.content.to_dict()
        assert view == agreements.revision(world.admin, agreement_id, view["number"])
    signed = revisions[1]["signatures"]
    members = {m.party_id: m for m in (trio.senate, trio.firm, trio.assoc)}
    assert [s["party_id"] for s in signed] == [
        trio.senate.party_id,
        trio.firm.party_id,
        trio.assoc.party_id,
    ]
    payload = agreements.signing_payload(world.admin, agreement_id, 2)
    for signature in signed:
        member = members[signature["party_id"]]
        assert signature["key_id"] == member.key_id
        assert signature["token_id"] == member.principal.token_id
        public = base64.b64decode(
            world.services.parties.get(world.admin, member.party_id)["signing_keys"][0][
                "public_key"
            ]
        )
        assert signature_is_valid(public, base64.b64decode(signature["signature"]), payload)
    assert revisions[0]["signatures"] == []


def test_the_signing_payload_is_the_canonical_json_of_id_revision_and_content(
    world: World, trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(world, trio)
    agreements = world.services.agreements
    loaded = world.services.store.agreement(agreement_id)

    for number in (1, 2, 3):
        payload = agreements.signing_payload(trio.firm.principal, agreement_id, number)
        content = loaded.revision(number).content
        assert payload == signing_payload(agreement_id, number, content)
        assert json.loads(payload) == {
            "agreement_id": agreement_id,
            "revision": number,
            "content": content.to_dict(),
        }
        view = agreements.revision(world.admin, agreement_id, number)
        assert view["signing_payload"].encode("utf-8") == payload
    # Canonical: sorted keys, no whitespace, UTF-8, quantities as strings.
    first = agreements.signing_payload(world.admin, agreement_id, 1)
    compact = json.dumps(
        json.loads(first), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert first == compact.encode("utf-8")
    assert b'"quantity":"12.50"' in first
    with pytest.raises(RevisionNotFoundError):
        agreements.signing_payload(world.admin, agreement_id, 4)


def test_a_diff_lists_changed_fields_and_added_commitments(world: World, trio: Trio) -> None:
    agreement_id, _ = busy_agreement(world, trio)
    agreements = world.services.agreements

    diff = agreements.diff(world.admin, agreement_id, 2, against=1)
    changes = {c["path"]: c for c in diff["changes"]}

    assert diff["revision"] == 2 and diff["against"] == 1
    assert changes["title"] == {
        "path": "title",
        "change": "changed",
        "before": "Kiezküche Moabit",
        "after": "Kiezküche",
    }
    assert changes["terms.starts_on"]["after"] == "2026-05-01"
    assert changes["terms.ends_on"]["before"] is None
    assert changes["commitments[C1].quantity"]["before"] == "12.50"
    assert changes["commitments[C1].quantity"]["after"] == "20"
    assert changes["commitments[C2]"]["change"] == "added"
    assert changes["commitments[C2]"]["after"]["kind"] == "space"
    assert changes["commitments[C2]"]["after"]["beneficiary"] is None
    assert "purpose" not in changes and "terms.text" not in changes
    assert "commitments[C1].description" not in changes

    back = {c["path"]: c for c in agreements.diff(world.admin, agreement_id, 1, 2)["changes"]}
    assert back["commitments[C2]"]["change"] == "removed"
    assert back["commitments[C2]"]["before"]["id"] == "C2"
    assert agreements.diff(world.admin, agreement_id, 2, 2)["changes"] == []
    # The amendment named C1 and left out the id of the space commitment: a new one.
    amended = {
        (c["path"], c["change"])
        for c in agreements.diff(world.admin, agreement_id, 3, 2)["changes"]
    }
    assert amended == {
        ("commitments[C1].quantity", "changed"),
        ("commitments[C2]", "removed"),
        ("commitments[C3]", "added"),
    }
    with pytest.raises(RevisionNotFoundError):
        agreements.diff(world.admin, agreement_id, 2, 9)


def test_a_diff_lists_added_and_removed_parties(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    agreements.revise(trio.firm.ctx(), created["id"], two_commitment_draft(trio), "Dazu")

    added = agreements.diff(trio.firm.principal, created["id"], 2, 1)["changes"]
    removed = agreements.diff(trio.firm.principal, created["id"], 1, 2)["changes"]

    assert {"path": "parties", "change": "added", "before": None, "after": trio.assoc.party_id} in (
        added
    )
    assert {
        "path": "parties",
        "change": "removed",
        "before": trio.assoc.party_id,
        "after": None,
    } in removed
    assert not [c for c in added if c["path"] == "parties" and c["change"] == "removed"]


def test_the_history_lists_every_event_in_order_with_actor_and_german_names(
    world: World, trio: Trio
) -> None:
    agreement_id, _ = busy_agreement(world, trio)

    history = world.services.agreements.history(trio.assoc.principal, agreement_id)

    assert [h["type"] for h in history] == [
        "Proposed",
        "Revised",
        "Signed",
        "Signed",
        "Signed",
        "Concluded",
        "FulfilmentRecorded",
        "FulfilmentConfirmed",
        "AmendmentProposed",
        "AmendmentRejected",
        "FulfilmentRecorded",
        "FulfilmentDisputed",
        "Terminated",
    ]
    assert [h["version"] for h in history] == list(range(1, 14))
    positions = [h["position"] for h in history]
    assert None not in positions
    assert all(a < b for a, b in itertools.pairwise(positions))
    times = [h["time"] for h in history]
    assert times == sorted(times)
    tokens = {m.party_id: m.principal.token_id for m in (trio.senate, trio.firm, trio.assoc)}
    for line in history:
        assert line["actor"]["token_id"] == tokens[line["actor"]["party_id"]]
    assert history[0]["actor_name"] == "Bezirksamt Mitte"
    assert history[0]["summary"].startswith("Bezirksamt Mitte proposed “Kiezküche Moabit”")
    assert "Kiezbäckerei GmbH" in history[0]["summary"]
    assert "Nachbarschaftsverein Moabit e.V." in history[0]["summary"]
    assert history[1]["summary"].startswith("Kiezbäckerei GmbH revised the proposal (revision 2)")
    assert trio.firm.key_id in history[3]["summary"]
    assert "7.25" in history[6]["summary"]
    assert history[12]["summary"] == "Kiezbäckerei GmbH terminated the agreement: Projekt beendet"


def test_positions_of_two_agreements_interleave_in_the_global_order(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    first = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    second = agreements.propose(trio.firm.ctx(), draft(trio.firm, trio.assoc)).body["id"]
    agreements.decline(trio.firm.ctx(), first, "nein")

    one = [h["position"] for h in agreements.history(world.admin, first)]
    two = [h["position"] for h in agreements.history(world.admin, second)]

    assert one[0] < two[0] < one[1]
