"""The Merkle log, its checkpoints and proofs, and the server key, on both backends."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.concurrency import joined
from tests.support.integrity import RawDatabase, Story, integrity_settings
from tests.support.merkle_reference import MAX_SIZE, ref_mth, ref_path, ref_proof
from tests.support.scenario import World
from tests.support.trio import TODAY
from tris.application.errors import LogEntryNotFoundError, ServerKeyError, TreeNotFoundError
from tris.application.store import IdempotencyRequest
from tris.bootstrap import Services, build
from tris.config import load_settings, parse_database_url
from tris.domain.proofs.merkle import verify_consistency, verify_inclusion
from tris.domain.proofs.signed import checkpoint_payload, server_signature_valid
from tris.domain.values import Sector


def _positions(services: Services) -> list[int]:
    recorder = services.store.log.app.recorder
    return [n.id for n in recorder.select_notifications(start=None, limit=100_000)]


def test_catch_up_logs_every_event_once_in_position_order(services: Services, story: Story) -> None:
    log = services.integrity.log
    size = log.catch_up()
    assert log.catch_up() == size == len(_positions(services))
    leaves = list(log.iter_leaves())
    assert [leaf.leaf_index for leaf in leaves] == list(range(size))
    assert [leaf.position for leaf in leaves] == _positions(services)


def test_processes_racing_to_catch_up_build_one_log(
    database_url: str, tmp_path: Path, services: Services, story: Story
) -> None:
    others = [
        build(integrity_settings(database_url, tmp_path), today=lambda: TODAY) for _ in range(3)
    ]
    for other in others:
        other.integrity.log.batch_size = 3  # many small appends, so the races really happen
    errors: list[BaseException] = []

    def catch_up(target: Services) -> None:
        try:
            target.integrity.log.catch_up()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=catch_up, args=(o,)) for o in others]
    for thread in threads:
        thread.start()
    joined(*threads)
    try:
        assert errors == []
        leaves = list(services.integrity.log.iter_leaves())
        assert [leaf.position for leaf in leaves] == _positions(services)
        roots = {o.integrity.log.root(len(leaves)) for o in others}
        assert roots == {services.integrity.log.root(len(leaves))}
    finally:
        for other in others:
            other.close()


def test_checkpoints_are_signed_kept_and_consistent(
    services: Services, world: World, story: Story
) -> None:
    integrity = services.integrity
    first = integrity.issue_checkpoint()
    member = next(iter(world.members.values()))
    services.agreements.terminate(member.ctx(), story.agreement_id, "Projekt beendet")
    second = integrity.issue_checkpoint()
    assert second["tree_size"] == first["tree_size"] + 1
    # The story's own checkpoint came first, at the same size as `first`.
    assert [c.tree_size for c in integrity.log.checkpoints()][-2:] == [
        first["tree_size"],
        second["tree_size"],
    ]
    key = integrity.server_key()
    for checkpoint in (first, second):
        assert checkpoint["key_id"] == key["key_id"]
        payload = checkpoint_payload(
            checkpoint["tree_size"], checkpoint["root_hash"], checkpoint["issued_at"]
        )
        assert server_signature_valid(key["public_key"], checkpoint["signature"], payload)
    assert integrity.latest_checkpoint() == second

    proof = integrity.consistency(first["tree_size"], second["tree_size"])
    assert proof["first_root"] == first["root_hash"]
    assert proof["second_root"] == second["root_hash"]
    assert verify_consistency(
        first["tree_size"],
        second["tree_size"],
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second["root_hash"]),
        [bytes.fromhex(p) for p in proof["path"]],
    )


def test_a_checkpoint_key_another_process_committed_meanwhile_keeps_one_checkpoint(
    services: Services, story: Story, database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    request = IdempotencyRequest("checkpoint-race", "fingerprint", 201)
    other = build(integrity_settings(database_url, tmp_path), today=lambda: TODAY)
    try:
        first = other.integrity.issue_checkpoint_once("admin", request)
    finally:
        other.close()
    kept = services.integrity.log.checkpoints()
    # This process looked the key up just before the other one committed it.
    records = services.store.idempotency
    misses = [None]
    found = records.find
    monkeypatch.setattr(records, "find", lambda *key: misses.pop() if misses else found(*key))
    again = services.integrity.issue_checkpoint_once("admin", request)
    assert again.replayed and again.body == first.body
    assert services.integrity.log.checkpoints() == kept


def test_every_event_has_an_inclusion_proof_under_the_latest_checkpoint(
    services: Services, story: Story
) -> None:
    integrity = services.integrity
    checkpoint = integrity.issue_checkpoint()
    root = bytes.fromhex(checkpoint["root_hash"])
    for position in _positions(services):
        proof = integrity.inclusion(position)
        assert proof["tree_size"] == checkpoint["tree_size"]
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["path"]],
            root,
        )


def test_stored_roots_and_proofs_match_the_reference_for_every_tree_size_up_to_64(
    services: Services, world: World, story: Story
) -> None:
    log = services.integrity.log
    while log.catch_up() < MAX_SIZE:
        world.add(f"Verein Nummer {log.size()}", Sector.CIVIL_SOCIETY)
    # The entries, read straight from the events and their recorded hashes in position order.
    raw = RawDatabase(services)
    hashes = {
        (str(UUID(str(aggregate_id))), int(version)): str(digest)
        for aggregate_id, version, digest in raw.run(
            "SELECT originator_id, originator_version, hash FROM tris_event_hashes"
        )
    }
    events = raw.run(
        f"SELECT originator_id, originator_version FROM {raw.table} "
        f"WHERE {raw.position} IS NOT NULL ORDER BY {raw.position}"
    )
    entries = [bytes.fromhex(hashes[(str(UUID(str(a))), int(v))]) for a, v in events[:MAX_SIZE]]
    assert len(entries) == MAX_SIZE

    for n in range(1, MAX_SIZE + 1):
        assert log.root(n) == ref_mth(entries[:n]).hex()
        for m in range(n):
            assert log.inclusion_proof(m, n) == [p.hex() for p in ref_path(m, entries[:n])]
        for m in range(1, n):
            assert log.consistency_proof(m, n) == [p.hex() for p in ref_proof(m, entries[:n])]


def test_proofs_of_unknown_positions_and_sizes_are_refused(
    services: Services, story: Story
) -> None:
    integrity = services.integrity
    size = integrity.log.catch_up()
    with pytest.raises(LogEntryNotFoundError):
        integrity.inclusion(10_000_000)
    with pytest.raises(TreeNotFoundError):
        integrity.inclusion(_positions(services)[0], tree_size=size + 1)
    with pytest.raises(TreeNotFoundError):
        integrity.inclusion(_positions(services)[-1], tree_size=1)
    with pytest.raises(TreeNotFoundError):
        integrity.consistency(3, 2)
    with pytest.raises(TreeNotFoundError):
        integrity.consistency(1, size + 1)


def test_a_checkpoint_is_issued_when_due_and_on_a_schedule(
    services: Services, world: World, story: Story
) -> None:
    integrity = services.integrity
    assert integrity.issue_if_due() is None  # the story's checkpoint covers everything
    member = next(iter(world.members.values()))
    world.add("Neue Stiftung", Sector.CIVIL_SOCIETY)
    assert integrity.issue_if_due() is not None
    assert integrity.issue_if_due() is None  # nothing new was logged
    services.agreements.terminate(member.ctx(), story.agreement_id, "Projekt beendet")
    integrity.start_schedule(0.05)
    deadline = time.monotonic() + 10
    while len(integrity.log.checkpoints()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    integrity.close()
    assert len(integrity.log.checkpoints()) == 2


def test_the_embedded_default_creates_a_private_key_file_beside_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/tris.db"
    first = build(load_settings(database_url=url, projections="inline"))
    second = build(load_settings(database_url=url, projections="inline"))
    try:
        key_id = first.integrity.server_key()["key_id"]
        key_file = tmp_path / "tris.db.server-key"
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert second.integrity.server_key()["key_id"] == key_id
    finally:
        first.close()
        second.close()


def test_postgresql_requires_a_configured_key_file(database_url: str, tmp_path: Path) -> None:
    backend, _ = parse_database_url(database_url)
    settings = integrity_settings(database_url, tmp_path, server_key_file=None)
    services = build(settings, today=lambda: TODAY)
    try:
        if backend == "sqlite":
            assert services.integrity.server_key()["key_id"]
            return
        with pytest.raises(ServerKeyError, match="TRIS_SERVER_KEY_FILE"):
            services.integrity.check_configuration()
        missing = integrity_settings(
            database_url, tmp_path, server_key_file=str(tmp_path / "missing.key")
        )
        absent = build(missing, today=lambda: TODAY)
        try:
            with pytest.raises(ServerKeyError, match="does not exist"):
                absent.integrity.issue_checkpoint()
        finally:
            absent.close()
    finally:
        services.close()


def test_a_leaf_row_removed_behind_the_log_is_appended_again(
    services: Services, story: Story
) -> None:
    log = services.integrity.log
    size = log.catch_up()
    root = log.root(size)
    RawDatabase(services).run("DELETE FROM tris_merkle_leaves WHERE leaf_index=%s", (size - 1,))
    assert log.catch_up() == size
    assert log.root(size) == root
