"""Hash chains are written with the events, in the same transaction, on both backends."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from tests.support.integrity import RawDatabase, Story, integrity_settings
from tests.support.scenario import World
from tests.support.trio import TODAY
from tris.bootstrap import Services, build
from tris.domain.proofs.chain import event_hash
from tris.domain.signing import canonical_json


def test_every_event_is_chained_to_its_predecessor(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    for aggregate_id in [story.agreement_id, *story.parties]:
        recorded = services.integrity.log.recorded_hashes(aggregate_id)
        events = raw.events(aggregate_id)
        assert sorted(recorded) == [v for v, _, _, _ in events]
        prev = ""
        for version, topic, state, _ in events:
            digest, prev_hash = recorded[version]
            assert prev_hash == prev
            assert digest == event_hash(aggregate_id, version, topic, state, prev)
            prev = digest


def test_an_event_hash_covers_exactly_the_stored_record(services: Services, story: Story) -> None:
    raw = RawDatabase(services)
    version, topic, state, _ = raw.events(story.agreement_id)[0]
    expected = hashlib.sha256(
        canonical_json(
            {
                "aggregate_id": story.agreement_id,
                "version": version,
                "topic": topic,
                "state": json.loads(state),
                "prev_hash": "",
            }
        )
    ).hexdigest()
    assert services.integrity.log.recorded_hashes(story.agreement_id)[1][0] == expected
    assert json.loads(state)["actor"]["_data_"]["party_id"]  # time, actor and data are in it


def test_the_chain_continues_in_another_process(
    database_url: str, tmp_path: Path, services: Services, world: World, story: Story
) -> None:
    other = build(integrity_settings(database_url, tmp_path), today=lambda: TODAY)
    try:
        member = next(iter(world.members.values()))
        other.agreements.terminate(member.ctx(), story.agreement_id, "Projekt beendet")
        recorded = services.integrity.log.recorded_hashes(story.agreement_id)
        last = max(recorded)
        assert recorded[last][1] == recorded[last - 1][0]
    finally:
        other.close()


def test_a_save_that_loses_a_race_writes_no_hash(services: Services, story: Story) -> None:
    store = services.store
    first = store.agreement(story.agreement_id)
    second = store.agreement(story.agreement_id)
    first.terminate(first.latest.author, "Erster")
    second.terminate(second.latest.author, "Zweiter")
    store.log.app.save(first)
    with pytest.raises(IntegrityError):
        store.log.app.save(second)
    raw = RawDatabase(services)
    recorded = services.integrity.log.recorded_hashes(story.agreement_id)
    assert len(recorded) == len(raw.events(story.agreement_id))
    total_events = raw.run(f"SELECT COUNT(*) FROM {raw.table}")[0][0]
    total_hashes = raw.run("SELECT COUNT(*) FROM tris_event_hashes")[0][0]
    assert total_events == total_hashes
