"""The aggregate cache (ADR 25): a process decides its next command on the aggregates its
last one left, and never answers differently from a process without it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.support.integrity import RawDatabase
from tests.support.scenario import Member, World, draft
from tests.support.trio import ServicesFactory, Trio
from tris.application.cache import AggregateCache, Borrowed
from tris.application.errors import VersionMismatchError
from tris.application.parties import new_contact
from tris.bootstrap import Services
from tris.domain.errors import PartyDeactivatedError
from tris.domain.party import PartyDetails
from tris.domain.values import Sector


def count_loads(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """The ids of every aggregate a command reads from the database from now on."""
    loads: list[UUID] = []
    log = services.store.log
    load_sized = log.load_sized

    def counted(aggregate_id: UUID) -> Any:
        loads.append(aggregate_id)
        return load_sized(aggregate_id)

    monkeypatch.setattr(log, "load_sized", counted)
    return loads


def sign(
    services: Services, member: Member, agreement_id: str, expected: int, revision: int = 2
) -> Any:
    """`member` signs a revision naming the agreement version it read (If-Match)."""
    payload = services.agreements.signing_payload(member.principal, agreement_id, revision)
    return services.agreements.sign(
        member.ctx(expected_version=expected),
        agreement_id,
        revision,
        member.key_id,
        member.signature(payload),
    ).body


def test_a_command_is_decided_on_what_the_last_command_left(
    world: World, trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = world.services
    agreements = services.agreements
    agreement_id = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    loads = count_loads(services, monkeypatch)
    sign(services, trio.senate, agreement_id, expected=1, revision=1)
    sign(services, trio.firm, agreement_id, expected=2, revision=1)
    assert UUID(agreement_id) not in loads  # the agreement was kept after each command
    assert UUID(trio.senate.party_id) not in loads
    assert services.store.agreement(agreement_id).version == 4  # two signatures, concluded


def test_another_process_moving_an_agreement_on_does_not_change_any_answer(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    here, there = world.services, open_services()
    agreement_id = here.agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body[
        "id"
    ]
    # The other process revises it: what this process keeps is version 1, the store has 2.
    revised = there.agreements.revise(
        trio.senate.ctx(expected_version=1),
        agreement_id,
        draft(trio.senate, trio.firm, title="B"),
        "genauer",
    ).body
    assert revised["version"] == 2
    # A client that read version 2 there names it here: not a stale 412.
    assert sign(here, trio.firm, agreement_id, expected=2)["version"] == 3
    # There, version 2 is kept, and a client names version 3: decided on the store's.
    there_signed = sign(there, trio.senate, agreement_id, expected=3)
    assert (there_signed["version"], there_signed["status"]) == (5, "in_force")
    # Here version 3 is kept; a client names version 5: decided on the store's.
    ended = here.agreements.terminate(trio.firm.ctx(expected_version=5), agreement_id, "Ende")
    assert (ended.body["version"], ended.body["status"]) == (6, "terminated")


def test_a_command_naming_no_version_is_decided_on_the_stores_state(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    here, there = world.services, open_services()
    # The association was registered here, so this process keeps it; the other moves it on.
    details = PartyDetails(name="Stadtteilzentrum Moabit e.V.", sector=Sector.CIVIL_SOCIETY)
    moved = there.parties.update_details(world.admin_ctx(), trio.assoc.party_id, details).body
    # No If-Match: the kept version clashes with the store's, and the command is decided
    # once more on what the store holds, so no clash with a change made before it.
    renamed = PartyDetails(name="Stadtteilzentrum Alt-Moabit e.V.", sector=Sector.CIVIL_SOCIETY)
    updated = here.parties.update_details(world.admin_ctx(), trio.assoc.party_id, renamed).body
    assert updated["version"] == moved["version"] + 1


def test_a_command_saving_nothing_answers_from_the_stores_state_not_the_kept_one(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    here, there = world.services, open_services()
    party_id = trio.assoc.party_id
    details = PartyDetails(name="Stadtteilzentrum Moabit e.V.", sector=Sector.CIVIL_SOCIETY)
    moved = there.parties.update_details(world.admin_ctx(), party_id, details).body
    store = here.store

    def read_only() -> tuple[list[Any], dict[str, Any]]:
        party = store.party(party_id)
        return [], {"version": party.version, "name": party.details.name}

    # Nothing is saved, so no save checks the version kept here: the answer must still be
    # the store's, as a process without the cache gives it.
    answer = store.execute(world.admin_ctx(), read_only).body
    assert answer == {"version": moved["version"], "name": "Stadtteilzentrum Moabit e.V."}


def test_a_party_deactivated_elsewhere_cannot_act_on_what_a_process_kept_of_it(
    open_services: ServicesFactory, world: World, trio: Trio
) -> None:
    here, there = world.services, open_services()
    first = here.agreements.propose(trio.firm.ctx(), draft(trio.firm, trio.assoc)).body["id"]
    second = here.agreements.propose(trio.firm.ctx(), draft(trio.firm, trio.assoc)).body["id"]
    sign(here, trio.firm, first, expected=1, revision=1)  # keeps the firm, read as the signer
    there.parties.deactivate(world.admin_ctx(), trio.firm.party_id, "aufgelöst")
    with pytest.raises(PartyDeactivatedError):
        sign(here, trio.firm, second, expected=1, revision=1)


def test_a_refused_command_leaves_nothing_changed_in_the_cache(world: World, trio: Trio) -> None:
    services = world.services
    agreement_id = services.agreements.propose(
        trio.senate.ctx(), draft(trio.senate, trio.firm)
    ).body["id"]
    with pytest.raises(PartyDeactivatedError):
        services.parties.deactivate(world.admin_ctx(), trio.firm.party_id, "aufgelöst")
        services.agreements.decline(trio.firm.ctx(), agreement_id, "nein")
    assert services.store.agreement(agreement_id).version == 1
    view = services.agreements.withdraw(trio.senate.ctx(), agreement_id, "weg").body
    assert view["version"] == 2 and view["status"] == "withdrawn"


def test_the_cache_is_bounded_by_bytes_and_drops_the_least_recent_first() -> None:
    class Fake:
        def __init__(self, n: int) -> None:
            self.id = UUID(int=n)
            self.version = 1
            self.pending_events: list[object] = []

    cache = AggregateCache(max_bytes=8_000)
    for n in range(10):
        cache.give_back(Borrowed(Fake(n), 900, 1, cached=False))
    assert cache.bytes <= 8_000 and len(cache) == 8
    assert cache.take(UUID(int=0)) is None and cache.take(UUID(int=1)) is None
    assert cache.take(UUID(int=9)) is not None
    # One aggregate larger than an eighth of the bound is not kept at all.
    cache.give_back(Borrowed(Fake(99), 1_001, 1, cached=False))
    assert cache.take(UUID(int=99)) is None
    # Nor one changed and not saved.
    changed = Fake(42)
    changed.pending_events.append(object())
    cache.give_back(Borrowed(changed, 10, 1, cached=False))
    assert cache.take(UUID(int=42)) is None


def test_a_party_kept_with_a_contact_shows_the_person_erased_once_erased(world: World) -> None:
    services = world.services
    contact = new_contact("Erika Mustermann", "erika@example.org")
    details = PartyDetails(name="Kiezladen e.V.", sector=Sector.CIVIL_SOCIETY)
    party_id = services.parties.register(world.admin_ctx(), details, (contact,)).body["id"]
    assert services.store.cache.take(UUID(party_id)) is not None  # kept since registered
    services.parties.update_details(world.admin_ctx(), party_id, details)  # kept once more
    services.parties.erase_personal_data(world.admin_ctx(), contact.person_id)
    renamed = PartyDetails(name="Kiezladen Moabit e.V.", sector=Sector.CIVIL_SOCIETY)
    answer = services.parties.update_details(world.admin_ctx(), party_id, renamed).body
    assert answer["contacts"][0]["erased"] is True
    assert "Erika" not in repr(answer) and "erika@" not in repr(answer)


def test_state_kept_ahead_of_the_store_is_noticed_and_never_leaves_a_gap(
    world: World, trio: Trio
) -> None:
    # Say the database was restored to a moment before the process's last command: what
    # the process kept is ahead of the store. The next command must not append after it.
    services = world.services
    agreements = services.agreements
    agreement_id = agreements.propose(trio.senate.ctx(), draft(trio.senate, trio.firm)).body["id"]
    assert sign(services, trio.senate, agreement_id, expected=1, revision=1)["version"] == 2
    raw = RawDatabase(services)
    raw.run(
        f"DELETE FROM {raw.table} WHERE originator_id=%s AND originator_version=2",
        (raw.key(agreement_id),),
    )
    raw.run(
        "DELETE FROM tris_event_hashes WHERE originator_id=%s AND originator_version=2",
        (agreement_id,),
    )
    # Kept: version 2 (signed by the senate). A client names it: the command is decided on
    # it, the save notices that the store holds no version 2, and the command is decided
    # once more on the store's version 1 — a 412, and no event after a missing one.
    with pytest.raises(VersionMismatchError):
        agreements.withdraw(trio.senate.ctx(expected_version=2), agreement_id, "weg")
    versions = [e.originator_version for e in services.store.events(UUID(agreement_id))]
    assert versions == [1]
    done = agreements.withdraw(trio.senate.ctx(expected_version=1), agreement_id, "weg").body
    assert done["version"] == 2
