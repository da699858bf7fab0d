"""Changes made directly in the database, behind TRIS's back, are caught on both backends.

Each kind of tampering is caught by the store audit (`tris verify --store`) and by the
per-agreement verification (the endpoint's use case), in this process and in a fresh one.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.integrity import RawDatabase, Story, full_story
from tests.support.scenario import World, make_world
from tests.support.trio import ServicesFactory
from tris.application.access import Principal, Role
from tris.application.errors import LogTamperedError
from tris.bootstrap import Services

AUDITOR = Principal("auditor-token", Role.AUDITOR)


@pytest.fixture
def fresh(open_services: ServicesFactory) -> ServicesFactory:
    """Opens another process's services on the same database, after the tampering."""
    return open_services


@pytest.fixture
def story(services: Services) -> Story:
    """The full story, with the checkpoint the schedule would have issued by now."""
    world: World = make_world(services)
    story = full_story(world)
    services.integrity.issue_checkpoint()  # as the schedule would have done by now
    return story


def failed(verification: dict[str, Any]) -> dict[str, str]:
    """The failed checks of a verification, by name."""
    return {c["name"]: c["detail"] for c in verification["checks"] if not c["ok"]}


def located(target: Services, kind: str) -> list[tuple[str | None, int | None, int | None]]:
    """(aggregate id, version, position) of each audit finding of one kind, in report order."""
    return [
        (f.aggregate_id, f.version, f.position)
        for f in target.integrity.audit().findings
        if f.kind == kind
    ]


def kinds(services: Services) -> set[tuple[str, str | None, int | None]]:
    """(kind, aggregate id, version) of every audit finding."""
    return {(f.kind, f.aggregate_id, f.version) for f in services.integrity.audit().findings}


def test_an_untouched_store_passes_the_audit_and_every_verification(
    services: Services, story: Story
) -> None:
    report = services.integrity.audit()
    assert report.ok, report.to_dict()
    assert report.events == report.leaves > 0
    verification = services.integrity.verification(AUDITOR, story.agreement_id)
    assert verification["ok"], failed(verification)
    names = [c["name"] for c in verification["checks"]]
    assert names[0] == "chain"
    assert sum(n.startswith("signature of revision") for n in names) == 6
    assert "checkpoint" in names
    assert sum(n.startswith("inclusion of version") for n in names) == len(
        RawDatabase(services).events(story.agreement_id)
    )


def test_changed_event_data_is_caught(services: Services, story: Story, fresh: Any) -> None:
    raw = RawDatabase(services)
    version = raw.version_of_type(story.agreement_id, "FulfilmentRecorded")
    position = raw.position_of(story.agreement_id, version)
    raw.replace_in_state(story.agreement_id, version, "Vier Stunden", "Vierzig Stunden")

    for target in (services, fresh()):
        assert located(target, "changed") == [(story.agreement_id, version, position)]
        bad = failed(target.integrity.verification(AUDITOR, story.agreement_id))
        assert f"version {version} does not match its recorded hash" in bad["chain"]
        assert f"inclusion of version {version} (position {position})" in bad
        assert not any(name.startswith("signature") for name in bad)


def test_a_deleted_event_is_caught(services: Services, story: Story, fresh: Any) -> None:
    raw = RawDatabase(services)
    version = raw.version_of_type(story.agreement_id, "Concluded")
    position = raw.position_of(story.agreement_id, version)
    raw.delete_event(story.agreement_id, version)

    for target in (services, fresh()):
        assert located(target, "removed") == [(story.agreement_id, version, position)]
        bad = failed(target.integrity.verification(AUDITOR, story.agreement_id))
        assert f"version {version} was recorded but its event is missing" in bad["chain"]


def test_an_inserted_event_is_caught(services: Services, story: Story, fresh: Any) -> None:
    raw = RawDatabase(services)
    copied = raw.version_of_type(story.agreement_id, "FulfilmentRecorded")
    version = raw.insert_copy(story.agreement_id, copied)
    position = raw.position_of(story.agreement_id, version)

    for target in (services, fresh()):
        assert located(target, "inserted") == [(story.agreement_id, version, position)]
        bad = failed(target.integrity.verification(AUDITOR, story.agreement_id))
        assert f"version {version} has no recorded hash" in bad["chain"]
        assert bad[f"inclusion of version {version} (position {position})"] == (
            "the event is not in the log"
        )


def test_two_swapped_events_are_caught(services: Services, story: Story, fresh: Any) -> None:
    raw = RawDatabase(services)
    signed = [v for v, t, _, _ in raw.events(story.agreement_id) if t.endswith(".Signed")]
    first, second = signed[0], signed[1]
    first_position = raw.position_of(story.agreement_id, first)
    second_position = raw.position_of(story.agreement_id, second)
    raw.swap_positions(first_position, second_position)

    for target in (services, fresh()):
        assert set(located(target, "reordered")) == {
            (story.agreement_id, first, second_position),
            (story.agreement_id, second, first_position),
        }
        bad = failed(target.integrity.verification(AUDITOR, story.agreement_id))
        assert bad[f"inclusion of version {first} (position {second_position})"] == (
            f"logged at position {first_position}, stored at {second_position}"
        )
        assert f"inclusion of version {second} (position {first_position})" in bad


def test_two_events_swapped_between_versions_are_caught(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    signed = [v for v, t, _, _ in raw.events(story.agreement_id) if t.endswith(".Signed")]
    first, second = signed[0], signed[1]
    key = raw.key(story.agreement_id)
    for old, new in ((first, -1), (second, first), (-1, second)):
        raw.run(
            f"UPDATE {raw.table} SET originator_version=%s "
            "WHERE originator_id=%s AND originator_version=%s",
            (new, key, old),
        )
    findings = kinds(services)
    assert ("reordered", story.agreement_id, first) in findings
    assert ("reordered", story.agreement_id, second) in findings
    bad = failed(services.integrity.verification(AUDITOR, story.agreement_id))
    assert f"version {first} does not match its recorded hash" in bad["chain"]


def test_a_whole_rewritten_chain_is_caught_by_checkpoints_and_signatures(
    services: Services, story: Story, fresh: Any
) -> None:
    raw = RawDatabase(services)

    def change(version: int, state: bytes) -> bytes:
        return state.replace(b'"quantity":"14"', b'"quantity":"1"')

    raw.rewrite_chain(story.agreement_id, change)

    for target in (services, fresh()):
        report = target.integrity.audit()
        found = {f.kind for f in report.findings}
        # The chain itself is consistent now: only what was signed betrays it.
        assert "changed" not in found and "chain" not in found
        assert "checkpoint" in found
        assert any(f.kind == "signature" and "revision 3" in f.detail for f in report.findings)
        verification = target.integrity.verification(AUDITOR, story.agreement_id)
        bad = failed(verification)
        assert "chain" not in bad
        assert any(name.startswith("signature of revision 3") for name in bad)
        assert any(name.startswith("inclusion of version") for name in bad)

    with pytest.raises(LogTamperedError):
        fresh().integrity.issue_checkpoint()
