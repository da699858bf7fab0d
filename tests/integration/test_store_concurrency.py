"""Optimistic concurrency: stale versions are refused, concurrent writers cannot both win."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.commands import gate_saves
from tests.support.scenario import World, draft
from tests.support.trio import ServicesFactory, Trio
from tris.application.errors import ConcurrentUpdateError, VersionMismatchError
from tris.application.store import Outcome
from tris.bootstrap import Services
from tris.domain.signing import key_registration


def event_types(services: Services, aggregate_id: str) -> list[str]:
    """The type names of an aggregate's stored events."""
    return [type(e).__name__ for e in services.store.events(UUID(aggregate_id))]


def test_a_stale_expected_version_is_refused_and_nothing_is_stored(
    world: World, trio: Trio
) -> None:
    agreements = world.services.agreements
    agreement_id = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]

    for stale in (0, 2, 99):
        with pytest.raises(VersionMismatchError):
            agreements.decline(trio.firm.ctx(expected_version=stale), agreement_id, "nein")
    assert event_types(world.services, agreement_id) == ["Proposed"]

    done = agreements.decline(trio.firm.ctx(expected_version=1), agreement_id, "nein").body
    assert done["version"] == 2


def test_of_two_processes_saving_one_agreement_only_the_first_succeeds(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    first, second = world.services, open_services()
    mine = first.store.agreement(agreement_id)
    theirs = second.store.agreement(agreement_id)
    mine.decline(trio.firm.principal.actor, "nein")
    theirs.withdraw(trio.senate.principal.actor, "zurückgezogen")

    first.store.execute(trio.firm.ctx(), lambda: ([mine], {}))
    with pytest.raises(ConcurrentUpdateError):
        second.store.execute(trio.senate.ctx(), lambda: ([theirs], {}))

    assert event_types(second, agreement_id) == ["Proposed", "Declined"]
    assert second.agreements.get(world.admin, agreement_id)["status"] == "proposed"
    # Reloading and retrying works.
    retried = second.agreements.withdraw(trio.senate.ctx(), agreement_id, "zurückgezogen").body
    assert retried["status"] == "withdrawn" and retried["version"] == 3


def test_concurrent_commands_on_one_agreement_do_not_both_succeed(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    processes = [world.services, open_services()]
    barrier = threading.Barrier(2)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=20))

    def decline(services: Services) -> Outcome | Exception:
        try:
            return services.agreements.decline(trio.firm.ctx(), agreement_id, "nein")
        except ConcurrentUpdateError as exc:
            return exc

    def withdraw(services: Services) -> Outcome | Exception:
        try:
            return services.agreements.withdraw(trio.senate.ctx(), agreement_id, "weg")
        except ConcurrentUpdateError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [
            pool.submit(decline, processes[0]),
            pool.submit(withdraw, processes[1]),
        ]
        outcomes = [r.result(timeout=60) for r in results]

    winners = [o for o in outcomes if isinstance(o, Outcome)]
    losers = [o for o in outcomes if isinstance(o, ConcurrentUpdateError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    stored = event_types(world.services, agreement_id)
    assert len(stored) == 2 and stored[1] in ("Declined", "Withdrawn")
    assert winners[0].body["version"] == 2


def test_of_two_concurrent_writers_naming_one_version_the_loser_gets_a_version_mismatch(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    # Both load version 1 before either commits: over HTTP both sent If-Match "1", and the
    # loser's precondition failed (412), whichever command it was.
    agreement_id = world.services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    processes = [world.services, open_services()]
    barrier = threading.Barrier(2)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=20))

    def decline(services: Services) -> Outcome | Exception:
        try:
            return services.agreements.decline(trio.firm.ctx(1), agreement_id, "nein")
        except VersionMismatchError as exc:
            return exc

    def withdraw(services: Services) -> Outcome | Exception:
        try:
            return services.agreements.withdraw(trio.senate.ctx(1), agreement_id, "weg")
        except VersionMismatchError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [pool.submit(decline, processes[0]), pool.submit(withdraw, processes[1])]
        outcomes = [r.result(timeout=60) for r in results]

    assert sorted(type(o).__name__ for o in outcomes) == ["Outcome", "VersionMismatchError"]
    assert len(event_types(world.services, agreement_id)) == 2


def test_concurrent_key_registrations_on_one_party_do_not_both_succeed(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    processes = [world.services, open_services()]
    barrier = threading.Barrier(2)
    for services in processes:
        gate_saves(services, lambda: barrier.wait(timeout=20))

    def register(services: Services) -> Outcome | Exception:
        registration = key_registration(Ed25519PrivateKey.generate(), trio.assoc.party_id)
        try:
            return services.parties.register_signing_key(
                trio.assoc.ctx(), trio.assoc.party_id, *registration
            )
        except ConcurrentUpdateError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(register, processes))

    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrentUpdateError", "Outcome"]
    party = world.services.parties.get(world.admin, trio.assoc.party_id)
    assert len(party["signing_keys"]) == 2
    assert party["version"] == 3
