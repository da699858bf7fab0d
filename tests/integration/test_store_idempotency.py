"""Idempotency-Key handling of the event store: one answer per key, events written once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest

from tests.support.commands import ctx, gate_saves
from tests.support.scenario import World, draft
from tests.support.trio import ServicesFactory, Trio
from tris.application.errors import (
    ConcurrentUpdateError,
    IdempotencyInFlightError,
    IdempotencyKeyReusedError,
    VersionMismatchError,
)
from tris.application.store import EventStore, Outcome
from tris.bootstrap import Services
from tris.domain.agreement import Agreement
from tris.domain.errors import NotProposerError


def event_count(store: EventStore, topic: str | None = None) -> int:
    """How many events the log holds (of one topic, when given), counted in the table itself."""
    table = store.log.app.recorder.events_table_name  # type: ignore[attr-defined]
    statement = f"SELECT COUNT(*) FROM {table}"
    params: tuple[str, ...] = ()
    if topic is not None:
        statement += " WHERE topic=%s"
        params = (topic,)
    with store.database.read() as cur:
        cur.execute(statement, params)
        return int(cur.fetchone()[0])


def idempotency_keys(store: EventStore) -> list[tuple[str, str]]:
    """Every stored (token_id, key) pair."""
    with store.database.read() as cur:
        cur.execute("SELECT token_id, idem_key FROM tris_idempotency ORDER BY idem_key")
        return [(row[0], row[1]) for row in cur.fetchall()]


def proposals(store: EventStore) -> int:
    """How many agreements were ever proposed."""
    return event_count(store, f"{Agreement.__module__}:{Agreement.Proposed.__qualname__}")


def test_a_retried_proposal_gets_the_first_answer_and_records_nothing(
    world: World, trio: Trio
) -> None:
    store = world.services.store
    agreements = world.services.agreements

    first = agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))
    count = event_count(store)
    again = agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))

    assert first.status == 201 and not first.replayed
    assert again.replayed and again.status == 201
    assert again.body == first.body
    assert event_count(store) == count
    assert proposals(store) == 1


def test_a_retried_change_of_an_agreement_records_no_second_event(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    created = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body
    agreement_id = created["id"]

    first = agreements.decline(
        ctx(trio.firm, "decline-1", expected_version=1), agreement_id, "nein"
    )
    again = agreements.decline(
        ctx(trio.firm, "decline-1", expected_version=1), agreement_id, "nein"
    )

    assert again.replayed and again.body == first.body
    assert again.body["version"] == 2
    events = world.services.store.events(UUID(agreement_id))
    assert [type(e).__name__ for e in events] == ["Proposed", "Declined"]


def test_reusing_a_key_for_another_request_is_refused(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    agreements.propose(ctx(trio.senate, "k-1", "fp-1"), draft(trio.senate, trio.firm))
    count = event_count(world.services.store)

    with pytest.raises(IdempotencyKeyReusedError):
        agreements.propose(
            ctx(trio.senate, "k-1", "fp-2"), draft(trio.senate, trio.firm, title="Anders")
        )
    assert event_count(world.services.store) == count


def test_a_replay_still_works_after_a_restart(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    first = world.services.agreements.propose(
        ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm)
    )
    count = event_count(world.services.store)
    world.services.close()

    restarted = open_services()
    again = restarted.agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))

    assert again.replayed and again.body == first.body and again.status == 201
    assert event_count(restarted.store) == count
    with pytest.raises(IdempotencyKeyReusedError):
        restarted.agreements.propose(ctx(trio.senate, "k-1", "fp-2"), draft(trio.senate, trio.firm))


def test_keys_belong_to_one_token(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    mine = agreements.propose(ctx(trio.senate, "shared-key"), draft(trio.senate, trio.firm))
    theirs = agreements.propose(ctx(trio.firm, "shared-key"), draft(trio.firm, trio.senate))

    assert not theirs.replayed
    assert theirs.body["id"] != mine.body["id"]
    assert proposals(world.services.store) == 2
    tokens = {token for token, key in idempotency_keys(world.services.store) if key == "shared-key"}
    assert tokens == {trio.senate.principal.token_id, trio.firm.principal.token_id}


def test_a_refused_command_leaves_no_key_behind(world: World, trio: Trio) -> None:
    agreements = world.services.agreements
    agreement_id = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    keys_before = idempotency_keys(world.services.store)

    with pytest.raises(VersionMismatchError):
        agreements.decline(ctx(trio.firm, "k-stale", expected_version=7), agreement_id, "nein")
    with pytest.raises(NotProposerError):
        agreements.withdraw(ctx(trio.firm, "k-rule"), agreement_id, "nicht meins")

    assert idempotency_keys(world.services.store) == keys_before
    # The key is free: the corrected request runs for real.
    done = agreements.decline(ctx(trio.firm, "k-stale", expected_version=1), agreement_id, "nein")
    assert not done.replayed and done.body["version"] == 2


def test_a_lost_race_leaves_no_key_behind(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    agreement_id = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    other = open_services()
    stale = other.store.agreement(agreement_id)

    agreements.decline(trio.firm.ctx(), agreement_id, "nein")
    stale.withdraw(trio.senate.principal.actor, "zurückgezogen")

    with pytest.raises(ConcurrentUpdateError):
        other.store.execute(ctx(trio.senate, "k-lost"), lambda: ([stale], {"lost": True}))

    assert "k-lost" not in {key for _, key in idempotency_keys(other.store)}
    events = other.store.events(UUID(agreement_id))
    assert [type(e).__name__ for e in events] == ["Proposed", "Declined"]


def test_a_request_still_in_flight_is_refused_and_later_replayed(world: World, trio: Trio) -> None:
    services = world.services
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            assert release.wait(timeout=20)

    gate_saves(services, hold)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(
            services.agreements.propose, ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm)
        )
        assert inside.wait(timeout=20)
        with pytest.raises(IdempotencyInFlightError):
            services.agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))
        release.set()
        first = running.result(timeout=20)

    again = services.agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))
    assert again.replayed and again.body == first.body
    assert proposals(services.store) == 1


def test_two_threads_with_one_key_record_one_set_of_events(world: World, trio: Trio) -> None:
    services = world.services
    barrier = threading.Barrier(2)

    def attempt() -> Outcome | Exception:
        barrier.wait(timeout=20)
        try:
            return services.agreements.propose(
                ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm)
            )
        except IdempotencyInFlightError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: attempt(), range(2)))

    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert [o for o in outcomes if not o.replayed], results
    assert len({o.body["id"] for o in outcomes}) == 1
    assert proposals(services.store) == 1


def test_two_processes_with_one_key_record_one_set_of_events(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    # Both processes pass the "seen this key?" check before either writes: only the
    # database can tell them apart, and the idempotency row is in the events' transaction.
    processes = [world.services, open_services()]
    barrier = threading.Barrier(2)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=20))

    def attempt(services: Services) -> Outcome:
        return services.agreements.propose(ctx(trio.senate, "k-1"), draft(trio.senate, trio.firm))

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, processes))

    assert sorted(o.replayed for o in outcomes) == [False, True]
    assert outcomes[0].body == outcomes[1].body
    assert proposals(world.services.store) == 1
    assert len(idempotency_keys(world.services.store)) == 1


@pytest.mark.parametrize("expected_version", [None, 1], ids=["no-if-match", "if-match"])
def test_two_processes_changing_one_agreement_under_one_key_record_it_once(
    open_services: ServicesFactory, world: World, trio: Trio, expected_version: int | None
) -> None:
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    processes = [world.services, open_services()]
    barrier = threading.Barrier(2)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=20))

    def attempt(services: Services) -> Outcome:
        return services.agreements.decline(
            ctx(trio.firm, "k-1", expected_version=expected_version), agreement_id, "nein"
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, processes))

    assert sorted(o.replayed for o in outcomes) == [False, True]
    assert outcomes[0].body == outcomes[1].body
    events = world.services.store.events(UUID(agreement_id))
    assert [type(e).__name__ for e in events] == ["Proposed", "Declined"]
