"""Read models on both backends: exactly once, equal to a rebuild, queries and pages right."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.support import rebuild as rebuild_support
from tests.support.concurrency import joined, run_in_threads
from tests.support.market import stats_from_events
from tests.support.postgres import PostgresServer, random_database_name
from tests.support.scenario import Member, World, draft, make_world
from tris.application.markets import DealRequest
from tris.application.opendata.stream import EventStream
from tris.application.readmodels.agreements import AgreementsProjection
from tris.application.readmodels.catalogue import default_projections
from tris.application.readmodels.partner import (
    CODE,
    PARTNER_SHARE,
    Partner,
    PartnerRecipe,
    agreement_topics,
)
from tris.application.readmodels.queries.agreements import AgreementFilter
from tris.application.readmodels.queries.stats import AGREEMENT_COUNTS
from tris.application.readmodels.runner import ProjectionRunner
from tris.application.store import EventStore
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.errors import DomainError, InvalidInputError
from tris.domain.market.market import MarketFormat, MarketPlan
from tris.domain.market.posting import PostingDraft, PostingSide
from tris.domain.values import ContentDraft, Sector, Terms
from tris.storage import cursors, tracking
from tris.storage.errors import ProjectionFailedError
from tris.storage.eventlog import EventLog
from tris.storage.follow_up import FollowUp
from tris.storage.log_part import LogPart, Tally, bound_for_share
from tris.storage.stage import Stage

TODAY = date(2026, 6, 1)


def open_services(url: str, **overrides: Any) -> Services:
    return build(load_settings(database_url=url, **overrides), today=lambda: TODAY)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    services = open_services(database_url, projections="inline")
    yield make_world(services)
    services.close()


def trio(world: World) -> tuple[Member, Member, Member]:
    return (
        world.add("Bezirksamt Mitte", Sector.STATE, region="Berlin-Mitte"),
        world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS, region="Berlin-Moabit"),
        world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY, region="Berlin-Moabit"),
    )


def conclude(world: World, agreement_id: str, *members: Member) -> None:
    for member in members:
        world.sign(
            member,
            agreement_id,
            world.services.agreements.get(world.admin, agreement_id)["revision"],
        )


def all_ids(world: World, filters: AgreementFilter, limit: int = 500) -> list[str]:
    return [
        i["id"]
        for i in world.services.queries.agreements(world.admin, filters, limit=limit)["items"]
    ]


# --------------------------------------------------------------------- behaviour


def test_a_command_is_visible_in_the_list_on_the_next_request(world: World) -> None:
    state, firm, assoc = trio(world)
    created = world.services.agreements.propose(state.ctx(), draft(firm, assoc, state)).body
    items = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["id"] for i in items] == [created["id"]]
    assert items[0]["status"] == "proposed"
    assert items[0]["sector_mix"] == "trisectoral"
    assert {p["sector"] for p in items[0]["parties"]} == {"state", "business", "civil_society"}


def test_a_page_lists_each_agreements_current_parties_in_party_id_order(world: World) -> None:
    state, firm, assoc = trio(world)
    other = world.add("Stadtteilbibliothek Tiergarten", Sector.STATE, region="Berlin-Mitte")
    agreements = world.services.agreements
    first = agreements.propose(state.ctx(), draft(state, firm, assoc)).body["id"]
    # A revision drops the state's party: it stays in the read model, but not current.
    agreements.revise(firm.ctx(), first, draft(firm, assoc, title="Kiezgarten"), "ohne Amt")
    second = agreements.propose(other.ctx(), draft(other, firm, title="Lesepaten")).body["id"]
    third = agreements.propose(assoc.ctx(), draft(assoc, state, other, title="Nachbarn")).body["id"]
    governing = {first: (firm, assoc), second: (other, firm), third: (assoc, state, other)}
    expected = {
        agreement: [
            {"party_id": m.party_id, "sector": m.sector.value}
            for m in sorted(members, key=lambda m: m.party_id)
        ]
        for agreement, members in governing.items()
    }
    pages = [
        (world.admin, AgreementFilter(), [third, second, first]),
        (firm.principal, AgreementFilter(party=firm.party_id), [second, first]),
        (state.principal, AgreementFilter(party=state.party_id), [third]),
        (world.admin, AgreementFilter(sector=Sector.STATE.value), [third, second]),
        (world.admin, AgreementFilter(q="Lesepaten"), [second]),
    ]
    for viewer, filters, ids in pages:
        items = world.services.queries.agreements(viewer, filters, limit=2)["items"]
        assert [i["id"] for i in items] == ids[:2], filters
        assert {i["id"]: i["parties"] for i in items} == {i: expected[i] for i in ids[:2]}
    # The next page goes on where the first ended, its parties too.
    page = world.services.queries.agreements(world.admin, AgreementFilter(), limit=2)
    rest = world.services.queries.agreements(
        world.admin, AgreementFilter(), limit=2, cursor=page["next_cursor"]
    )
    assert [(i["id"], i["parties"]) for i in rest["items"]] == [(first, expected[first])]


def test_a_command_applies_its_own_events_without_reading_them_back(
    database_url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, firm, assoc = trio(world)
    log = world.services.store.log
    read: list[int | None] = []
    notifications = log.notifications

    def counted_notifications(after: int | None, *args: Any, **kwargs: Any) -> Any:
        read.append(after)
        return notifications(after, *args, **kwargs)

    monkeypatch.setattr(log, "notifications", counted_notifications)
    agreements = world.services.agreements
    created = agreements.propose(state.ctx(), draft(firm, assoc, state)).body
    agreements.revise(
        firm.ctx(), created["id"], draft(firm, assoc, state, title="Kiezgarten"), "Ort"
    )
    assert read == []  # the read models took the events as recorded, not from the log
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [(i["id"], i["title"]) for i in listed] == [(created["id"], "Kiezgarten")]

    # What another process wrote meanwhile is read from the log, this process's own is not.
    other = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        other.agreements.propose(state.ctx(), draft(state, firm, assoc, title="Lesepatenschaft"))
    finally:
        other.close()
    agreements.propose(state.ctx(), draft(assoc, state, firm, title="Nachbarschaftsfest"))
    assert len(read) == 1
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Nachbarschaftsfest", "Lesepatenschaft", "Kiezgarten"]
    live = world.services.projections.digest()
    world.services.projections.rebuild()
    assert world.services.projections.digest() == live


def test_a_batch_reads_back_only_what_events_do_not_say(
    database_url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a pipelined batch every read is a round trip: what an event said once and never
    # changes (an agreement's order key, a recorded delivery) and what cannot exist yet
    # (commitments before the conclusion) is not read back.
    reads: list[str] = []
    for adapter in (cursors.SQLiteAdapter, cursors.PostgresAdapter):
        execute = adapter.execute

        def recorded(self: Any, sql: Any, params: Any = (), /, execute: Any = execute) -> Any:
            if str(sql).startswith("SELECT") and " rm_" in str(sql):
                reads.append(str(sql))
            return execute(self, sql, params)

        monkeypatch.setattr(adapter, "execute", recorded)
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    agreement_id = agreements.propose(state.ctx(), draft(firm, assoc, state)).body["id"]
    agreements.revise(
        firm.ctx(), agreement_id, draft(firm, assoc, state, title="Kiezgarten"), "Ort"
    )
    conclude(world, agreement_id, state, firm, assoc)
    (commitment,) = agreements.get(world.admin, agreement_id)["content"]["commitments"]
    recorded_fulfilment = agreements.record_fulfilment(
        firm.ctx(), agreement_id, commitment["id"], "10", TODAY, "Zehn Stunden gekocht"
    ).body
    agreements.confirm_fulfilment(assoc.ctx(), agreement_id, recorded_fulfilment["id"])
    assert not [r for r in reads if "SELECT seq FROM rm_agreements" in r]
    assert not [r for r in reads if "FROM rm_fulfilments" in r]
    assert not [r for r in reads if "committed_month" in r]  # the old commitments
    # Only what another agreement's events change too (the totals) or confirmations
    # change (a commitment's confirmed quantity) is read.
    assert {r.split(" FROM ")[1].split()[0] for r in reads} <= {
        "rm_commitment_totals",
        "rm_commitments",
    }

    # A process that did not see the proposal reads the order key back, and writes
    # exactly what this one does: both equal a rebuild.
    other = open_services(database_url, projections="inline")
    try:
        other.agreements.revise(
            firm.ctx(), agreements.propose(state.ctx(), draft(firm, assoc, state)).body["id"],
            draft(firm, assoc, state, title="Lesepatenschaft"), "Ort",
        )  # fmt: skip
        assert any("SELECT seq FROM rm_agreements" in r for r in reads)
    finally:
        other.close()
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Lesepatenschaft", "Kiezgarten"]
    live = world.services.projections.digest()
    world.services.projections.rebuild()
    assert world.services.projections.digest() == live


@pytest.mark.postgres
def test_a_command_after_the_last_applied_event_claims_its_batch_in_one_round_trip(
    postgres_cluster: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = postgres_cluster.create_database(random_database_name())
    services = open_services(database_url, projections="inline")
    try:
        claimed_in_one_round_trip(database_url, make_world(services), monkeypatch)
    finally:
        services.close()


def without_follow_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands whose rows do not go out with their saves (ADR 35): their events are
    applied after the commit, as when positions are not predicted."""
    recorder = world.services.store.log.app.recorder
    monkeypatch.setattr(recorder, "follow_up", None, raising=False)


def claimed_in_one_round_trip(
    database_url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The optimistic claim on PostgreSQL (ADR 30), and its refusal: the catch-up after a
    command, as when its rows do not go out with its save (ADR 35)."""
    without_follow_up(world, monkeypatch)
    claims: list[str] = []
    for name in ("claim_exactly", "claim_batch"):
        claim = getattr(tracking, name)

        def counted(*args: Any, name: str = name, claim: Any = claim) -> Any:
            claims.append(name)
            return claim(*args)

        monkeypatch.setattr(tracking, name, counted)
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    first = agreements.propose(state.ctx(), draft(firm, assoc, state)).body["id"]
    claims.clear()
    for title in ("Kiezgarten", "Lesepatenschaft"):
        agreements.revise(firm.ctx(), first, draft(firm, assoc, state, title=title), "Ort")
    # The read models stood right before each command's events: claimed optimistically.
    assert claims == ["claim_exactly", "claim_exactly"]

    # Another process's events came first: the optimistic claim is refused, nothing of it
    # is written, and the batch is claimed as usual, the other's events read from the log.
    other = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        other.agreements.propose(state.ctx(), draft(state, firm, assoc, title="Nachbarschaft"))
    finally:
        other.close()
    claims.clear()
    agreements.revise(firm.ctx(), first, draft(firm, assoc, state, title="Kiezfest"), "Ort")
    assert claims == ["claim_batch"]  # it knew the other's event came first

    # When the read models stand elsewhere than the run's start, the optimistic claim is
    # refused and nothing of its batch is written; a catch-up then applies it all.
    other = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        for title in ("Lesefest", "Lesecafé"):
            other.agreements.propose(state.ctx(), draft(assoc, state, firm, title=title))
    finally:
        other.close()
    runner, log = world.services.projections, world.services.store.log
    before, digest = runner.positions(), runner.digest()
    last = log.notifications(log.head() - 1, 1)
    assert runner._step_optimistic([(n, log.decode(n)) for n in last], sorted(before)) is None
    assert (runner.positions(), runner.digest()) == (before, digest)
    runner.catch_up()
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Lesecafé", "Lesefest", "Nachbarschaft", "Kiezfest"]
    positions = world.services.projections.positions()
    assert set(positions.values()) == {world.services.store.log.head()}
    live = world.services.projections.digest()
    world.services.projections.rebuild()
    assert world.services.projections.digest() == live


@pytest.mark.postgres
def test_another_processs_events_are_claimed_before_the_lock_is_taken(
    postgres_cluster: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing handed over, a batch reads the positions and the log first and claims
    the events with its statements and COMMIT in one round trip; it takes the batch lock
    first (`begin_batch`) only when the read models moved in between."""
    database_url = postgres_cluster.create_database(random_database_name())
    services = open_services(database_url, projections="inline")
    other = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        world = make_world(services)
        state, firm, assoc = trio(world)
        runner = services.projections
        steps: list[str] = []
        others = threading.local()  # the other runner's steps are not counted
        for name in ("begin_batch", "claim_exactly"):
            step = getattr(tracking, name)

            def counted(*args: Any, name: str = name, step: Any = step) -> Any:
                if not getattr(others, "stepping", False):
                    steps.append(name)
                return step(*args)

            monkeypatch.setattr(tracking, name, counted)
        other.agreements.propose(state.ctx(), draft(state, firm, assoc, title="Nachbarschaft"))
        assert runner.catch_up() > 0
        assert steps == ["claim_exactly"]

        # Another runner applies the events after this one read them: its claim is
        # refused, nothing of it is written, and the locked batch finds nothing left.
        other.agreements.propose(state.ctx(), draft(assoc, state, firm, title="Lesefest"))
        read = runner.store.log.notifications

        def read_then_overtaken(start: int, limit: int) -> Any:
            notifications = read(start, limit)
            others.stepping = True
            try:
                other.projections.catch_up()
            finally:
                others.stepping = False
            return notifications

        monkeypatch.setattr(runner.store.log, "notifications", read_then_overtaken)
        steps.clear()
        assert runner.catch_up() == 0
        assert steps == ["claim_exactly", "begin_batch"]
        monkeypatch.undo()
        listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
        assert [i["title"] for i in listed] == ["Lesefest", "Nachbarschaft"]
        assert_a_rebuild_changes_nothing(runner)
    finally:
        other.close()
        services.close()


def test_handed_over_events_are_bounded_and_the_log_fills_what_was_dropped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, firm, assoc = trio(world)
    runner = world.services.projections
    monkeypatch.setattr("tris.application.readmodels.runner.HANDED_MAX", 3)
    # Commands whose catch-up does not run: their events pile up, handed over.
    without_follow_up(world, monkeypatch)
    monkeypatch.setattr(runner, "_catch_up_until", lambda until: 0)
    titles = [f"Kiezprojekt {n}" for n in range(5)]
    for title in titles:
        world.services.agreements.propose(state.ctx(), draft(firm, assoc, state, title=title))
    head = world.services.store.log.head()
    assert sorted(runner._handed) == [head - 2, head - 1, head]  # the newest three
    monkeypatch.undo()
    runner.catch_up()
    assert runner._handed == {}
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == titles[::-1]
    assert_a_rebuild_changes_nothing(runner)


def assert_a_rebuild_changes_nothing(runner: ProjectionRunner) -> None:
    """The read models as commands left them equal a rebuild from the log."""
    live = runner.digest()
    runner.rebuild()
    assert runner.digest() == live


def counted_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """A list that gets an entry for every call of `owner.name` from now on."""
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.fixture
def pg_world(postgres_cluster: PostgresServer) -> Iterator[World]:
    """A store on a database of its own that applies its read models inline."""
    services = open_services(
        postgres_cluster.create_database(random_database_name()), projections="inline"
    )
    yield make_world(services)
    services.close()


def first_proposal(world: World) -> tuple[Services, Member, Member, Member, str]:
    """The world's services and trio, and an agreement the state body proposed: the
    process's first command, after which it predicts positions."""
    state, firm, assoc = trio(world)
    proposal = world.services.agreements.propose(state.ctx(), draft(firm, assoc, state))
    return world.services, state, firm, assoc, proposal.body["id"]


@pytest.mark.postgres
def test_a_commands_rows_go_out_with_its_save_and_no_batch_follows(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, state, firm, assoc, first = first_proposal(pg_world)
    agreements, runner = services.agreements, services.projections
    follow_ups = counted_calls(monkeypatch, tracking, "claim_ahead")
    steps = counted_steps(runner, monkeypatch)
    revised = agreements.revise(
        firm.ctx(), first, draft(firm, assoc, state, title="Kiezgarten"), "Ort"
    )
    proposed = agreements.propose(firm.ctx(), draft(firm, assoc, state, title="Lesecafé"))
    # Both commands' rows were claimed and written in their saves' round trips, at the
    # positions their events got; no read-model batch ran after either commit.
    assert follow_ups == [1, 1]
    assert steps == []
    assert runner.caught_up_to() == proposed.position == services.store.log.head()
    assert revised.position == proposed.position - 1
    listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Lesecafé", "Kiezgarten"]
    assert_a_rebuild_changes_nothing(runner)


@pytest.mark.postgres
def test_a_conclusion_and_a_confirmation_add_to_the_totals_without_reading_them_back(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, state, firm, assoc, agreement_id = first_proposal(pg_world)
    agreements, runner = services.agreements, services.projections
    view = agreements.get(pg_world.admin, agreement_id)
    for member in (firm, assoc, state):  # the last signature concludes it
        pg_world.sign(member, agreement_id, view["revision"])
    steps = counted_steps(runner, monkeypatch)
    fulfilment = agreements.record_fulfilment(
        firm.ctx(), agreement_id, "C1", "2.5", TODAY, "Gekocht"
    ).body["id"]
    agreements.confirm_fulfilment(assoc.ctx(), agreement_id, fulfilment)
    # The totals and the confirmed quantity are added to in SQL (no read back), so the
    # rows went out with the saves: no batch after the commits.
    assert steps == []
    with services.store.database.read() as cur:
        cur.execute(
            "SELECT month, committed, fulfilled FROM rm_commitment_totals "
            "WHERE kind = 'time' AND unit = 'hours'"
        )
        totals = {month: (committed, fulfilled) for month, committed, fulfilled in cur.fetchall()}
    delivered = TODAY.isoformat()[:7]  # the delivery's month; the conclusion's is today's
    assert sum(Decimal(committed) for committed, _ in totals.values()) == 10
    assert totals[delivered][1] == "2.5"
    assert_a_rebuild_changes_nothing(runner)


@pytest.mark.postgres
def test_rows_written_ahead_at_positions_another_process_took_are_rolled_back_whole(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, state, firm, assoc, first = first_proposal(pg_world)
    agreements, runner = services.agreements, services.projections
    database_url = services.settings.database_url
    # Another process writes and numbers an event: this process predicts the next
    # position as its own, writes its rows for it, and the database refuses them.
    other = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    try:
        other.agreements.propose(state.ctx(), draft(state, firm, assoc, title="Nachbarn"))
    finally:
        other.close()
    follow_ups = counted_calls(monkeypatch, tracking, "claim_ahead")
    steps = counted_steps(runner, monkeypatch)
    revised = agreements.revise(
        firm.ctx(), first, draft(firm, assoc, state, title="Kiezgarten"), "Ort"
    )
    assert follow_ups == [1]  # written ahead ...
    assert steps != []  # ... refused, and applied after the commit instead
    # The refused transaction took the sequencer's numbering with it: the command's
    # position is the one its event has in the log, right after the other's.
    head = services.store.log.head()
    assert revised.position == head
    assert services.store.database.positions(UUID(first)) == {1: head - 2, 2: head}
    listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Nachbarn", "Kiezgarten"]
    # After a wrong guess the next command does not guess (its rows are written after
    # its commit); its positions are where they would have been predicted, so the
    # one after it writes its rows with its save again.
    steps.clear()
    agreements.revise(firm.ctx(), first, draft(firm, assoc, state, title="Kiezfest"), "Ort")
    assert follow_ups == [1] and steps != []
    steps.clear()
    agreements.revise(firm.ctx(), first, draft(firm, assoc, state, title="Kiezmahl"), "Ort")
    assert follow_ups == [1, 1] and steps == []
    assert_a_rebuild_changes_nothing(runner)


@pytest.mark.postgres
def test_rows_written_ahead_that_cannot_be_sent_leave_nothing_behind(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, state, firm, assoc, first = first_proposal(pg_world)
    agreements, runner = services.agreements, services.projections
    follow_up = runner.follow_up

    def with_a_value_psycopg_refuses(*args: Any) -> FollowUp | None:
        built = follow_up(*args)
        assert built is not None and built.statements
        # The claim goes out, then a value refused before it reaches the database.
        claim, *rows = built.statements
        return FollowUp([claim, ("SELECT %s", (object(),)), *rows], built.settle)

    monkeypatch.setattr(runner, "follow_up", with_a_value_psycopg_refuses)
    revised = agreements.revise(
        firm.ctx(), first, draft(firm, assoc, state, title="Kiezgarten"), "Ort"
    )
    # The command stands, at its event's position; what went out of its rows (the claim)
    # did not commit: they were applied after it.
    assert revised.position == services.store.log.head()
    listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["title"] for i in listed] == ["Kiezgarten"]
    assert runner.caught_up_to() == revised.position
    assert_a_rebuild_changes_nothing(runner)


@pytest.mark.postgres
def test_what_was_kept_from_events_applied_ahead_is_forgotten_when_they_do_not_commit(
    pg_world: World,
) -> None:
    kept_and_forgotten(pg_world)


def kept_and_forgotten(world: World) -> None:
    """Events applied ahead keep facts; settled as not committed, they are forgotten."""
    state, firm, assoc = trio(world)
    agreements, runner = world.services.agreements, world.services.projections
    proposal = agreements.propose(state.ctx(), draft(firm, assoc, state))
    agreement_id = proposal.body["id"]
    log = world.services.store.log
    stored = log.app.recorder.select_events(UUID(agreement_id))
    events = [(e, log.app.mapper.to_domain_event(e)) for e in stored]
    projection = next(p for p in runner.projections if isinstance(p, AgreementsProjection))
    # The proposal's facts as if it were applied ahead at other positions (a save the
    # database refused, or positions another process took): kept while it is applied ...
    projection.listing.forget_seq(agreement_id)
    follow_up = runner.follow_up(log.head() + 1, events)
    assert follow_up is not None and follow_up.statements
    assert projection.listing._seq.get(agreement_id) == log.head() + 1
    # ... and forgotten when its statements did not commit: read back from the tables.
    follow_up.settle(False)
    assert projection.listing._seq.get(agreement_id) is None
    assert projection.revisions._remembered.get((agreement_id, 1)) is None
    assert runner.caught_up_to() == proposal.position  # nothing moved
    with world.services.store.database.transaction() as cur:
        assert projection.listing.seq(cur, agreement_id, 0) == proposal.position


def counted_steps(runner: ProjectionRunner, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets an entry for every read-model batch `runner` steps from now on."""
    return counted_calls(monkeypatch, runner, "_step")


def test_commands_finishing_together_share_a_batch_and_each_sees_its_own_effect(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, firm, assoc = trio(world)
    runner = world.services.projections
    batches: list[int] = []
    apply_events = runner._apply_events
    first = threading.Event()

    def slow_first_batch(*args: Any) -> None:
        batches.append(sum(len(items) for items in args[2].values()))
        if not first.is_set():
            first.set()
            time.sleep(0.3)  # the other commands commit meanwhile and wait for this leader
        apply_events(*args)

    monkeypatch.setattr(runner, "_apply_events", slow_first_batch)
    steps = counted_steps(runner, monkeypatch)
    seen: dict[int, bool] = {}

    def propose_and_list(n: int) -> None:
        content = draft(firm, assoc, state, title=f"Kiezprojekt {n}")
        created = world.services.agreements.propose(firm.ctx(), content).body
        listed = world.services.queries.agreements(firm.principal, AgreementFilter())
        seen[n] = created["id"] in {item["id"] for item in listed["items"]}

    assert run_in_threads(propose_and_list, 8) == []
    assert seen == {n: True for n in range(8)}  # read-your-writes for every one of them
    assert sum(batches) == 8 * len(runner.projections)  # each event applied once by each
    if world.services.store.database.backend == "postgres":
        # ... with fewer reads of the log and read-model batches than commands: the
        # commands that finished while the first was applying waited for one leader
        # instead of reading the log each, and none whose events a batch had applied
        # ran an empty one of its own. (SQLite has one writer, which the first batch holds
        # while it applies: the others commit after it, one by one.)
        assert len(steps) <= 4 and len(batches) <= 4


def test_a_command_whose_events_a_batch_applied_already_runs_no_batch_of_its_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, firm, assoc = trio(world)
    runner = world.services.projections
    agreements = world.services.agreements
    # Commands whose catch-up does not run yet; then one batch applies all their events.
    without_follow_up(world, monkeypatch)
    monkeypatch.setattr(runner, "_catch_up_until", lambda until: 0)
    first = agreements.propose(firm.ctx(), draft(firm, assoc, state, title="Kiezgarten"))
    agreements.propose(firm.ctx(), draft(firm, assoc, state, title="Lesepatenschaft"))
    monkeypatch.undo()
    assert runner.catch_up() > 0
    assert first.position is not None
    steps = counted_steps(runner, monkeypatch)
    # The first command's catch-up, arriving late: its events are applied, nothing to do.
    assert runner.catch_up(until=first.position) == 0
    assert steps == []
    # Once the read models moved back (a rewind), the same catch-up applies them again.
    runner.reset()
    assert runner.catch_up(until=first.position) > 0
    assert steps != []
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert sorted(i["title"] for i in listed) == ["Kiezgarten", "Lesepatenschaft"]


def test_in_worker_mode_a_command_answers_once_a_worker_applied_it(database_url: str) -> None:
    services = open_services(database_url, projections="worker", read_your_writes_timeout=10)
    # Another process's worker, idle between slow polls: a command that did not wait for
    # it would answer long before its events reach the read models.
    worker = ProjectionRunner(services.store, default_projections())
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"interval": 0.2})
    thread.start()
    try:
        world = make_world(services)
        _state, firm, assoc = trio(world)
        created = services.agreements.propose(firm.ctx(), draft(firm, assoc))
        assert created.position is not None
        assert services.projections.caught_up_to() >= created.position
        listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
        assert [i["id"] for i in listed] == [created.body["id"]]
    finally:
        stop.set()
        joined(thread)
        services.close()


def test_every_filter_selects_exactly_the_matching_agreements(world: World) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    tri = agreements.propose(
        state.ctx(), draft(firm, assoc, state, title="Haus der Kooperation")
    ).body["id"]
    bi = agreements.propose(firm.ctx(), draft(firm, assoc, title="Marktplatz Gute Geschäfte")).body[
        "id"
    ]
    gov = agreements.propose(state.ctx(), draft(state, firm, title="Netzwerk der Netzwerke")).body[
        "id"
    ]
    conclude(world, bi, firm, assoc)
    agreements.withdraw(state.ctx(), gov, "Zuständigkeit geklärt")

    assert set(all_ids(world, AgreementFilter())) == {tri, bi, gov}
    assert set(all_ids(world, AgreementFilter(party=assoc.party_id))) == {tri, bi}
    assert set(all_ids(world, AgreementFilter(sector="state"))) == {tri, gov}
    assert all_ids(world, AgreementFilter(status="in_force")) == [bi]
    assert all_ids(world, AgreementFilter(status="withdrawn")) == [gov]
    assert all_ids(world, AgreementFilter(sector_mix="trisectoral")) == [tri]
    assert set(all_ids(world, AgreementFilter(sector_mix="bisectoral"))) == {bi, gov}
    assert set(all_ids(world, AgreementFilter(region="Berlin-Mitte"))) == {tri, gov}
    assert all_ids(world, AgreementFilter(q="marktplatz")) == [bi]
    assert all_ids(world, AgreementFilter(q="KOOPERATION")) == [tri]
    assert all_ids(world, AgreementFilter(q="100%_")) == []
    assert all_ids(world, AgreementFilter(party=assoc.party_id, status="proposed")) == [tri]
    with pytest.raises(InvalidInputError):
        world.services.queries.agreements(world.admin, AgreementFilter(status="signed"))
    with pytest.raises(InvalidInputError):
        world.services.queries.agreements(world.admin, AgreementFilter(), limit=501)
    with pytest.raises(InvalidInputError):
        world.services.queries.agreements(world.admin, AgreementFilter(), cursor="not-a-cursor")


def test_a_partner_lists_only_agreements_of_its_party(world: World) -> None:
    state, firm, assoc = trio(world)
    other = world.add("Stadtteilgenossenschaft eG", Sector.CIVIL_SOCIETY)
    mine = world.services.agreements.propose(firm.ctx(), draft(firm, assoc)).body["id"]
    world.services.agreements.propose(state.ctx(), draft(state, other))
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["id"] for i in listed] == [mine]
    as_filter = world.services.queries.agreements(
        firm.principal, AgreementFilter(party=other.party_id)
    )
    assert as_filter["items"] == []


def test_pages_lose_and_repeat_nothing_while_agreements_are_added(world: World) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    existing = {
        agreements.propose(firm.ctx(), draft(firm, assoc, title=f"Projekt {n}")).body["id"]
        for n in range(23)
    }
    seen: list[str] = []
    cursor = None
    while True:
        page = world.services.queries.agreements(
            world.admin, AgreementFilter(), limit=5, cursor=cursor
        )
        seen += [i["id"] for i in page["items"]]
        # Writes between pages must not shift the pages.
        agreements.propose(state.ctx(), draft(state, assoc, title="Neu dazwischen"))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


PAGED_FILTERS = {
    "none": {},
    "party": {"party": "assoc"},
    "sector": {"sector": "state"},
    "status": {"status": "proposed"},
    "sector_mix": {"sector_mix": "trisectoral"},
    "region": {"region": "Berlin-Mitte"},
    "q": {"q": "kooperation"},
}


@pytest.mark.parametrize("name", list(PAGED_FILTERS))
def test_every_filter_pages_lose_and_repeat_nothing_while_agreements_are_added(
    world: World, name: str
) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    for n in range(5):
        agreements.propose(
            state.ctx(), draft(firm, assoc, state, title=f"Haus der Kooperation {n}")
        )
    for n in range(3):
        bi = agreements.propose(firm.ctx(), draft(firm, assoc, title=f"Marktplatz {n}")).body["id"]
        conclude(world, bi, firm, assoc)
    for n in range(2):
        agreements.propose(state.ctx(), draft(state, firm, title=f"Netzwerk {n}"))
    options = {k: assoc.party_id if v == "assoc" else v for k, v in PAGED_FILTERS[name].items()}
    filters = AgreementFilter(**options)
    before = all_ids(world, filters)
    assert len(before) >= 5
    seen: list[str] = []
    cursor = None
    while True:
        page = world.services.queries.agreements(world.admin, filters, limit=2, cursor=cursor)
        seen += [i["id"] for i in page["items"]]
        # A new agreement between pages matches every filter; it must not shift the pages.
        agreements.propose(state.ctx(), draft(assoc, state, firm, title="Neue Kooperation"))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == before


def two_commitments(
    debtor: Member, beneficiary: Member, *, quantity: str = "5", keep: bool = False
) -> ContentDraft:
    """Content in which each of two parties owes the other; `keep` names `C1` and `C2`."""
    base = draft(debtor, beneficiary, quantity=quantity)
    (owed,) = base.commitments
    received = replace(owed, debtor=beneficiary.party_id, beneficiary=debtor.party_id)
    if keep:
        owed, received = replace(owed, id="C1"), replace(received, id="C2")
    return replace(base, commitments=(owed, received))


@pytest.mark.parametrize("status", [None, "open"])
def test_commitment_pages_lose_and_repeat_nothing_while_commitments_change(
    world: World, status: str | None
) -> None:
    _state, firm, assoc = trio(world)
    agreements = world.services.agreements
    ids = []
    for _ in range(4):
        agreement_id = agreements.propose(firm.ctx(), two_commitments(firm, assoc)).body["id"]
        conclude(world, agreement_id, firm, assoc)
        ids.append(agreement_id)
    queries = world.services.queries

    def keys(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i["agreement_id"], i["id"]) for i in page["items"]]

    before = keys(queries.party_commitments(firm.principal, firm.party_id, status=status))
    assert len(before) == 8
    assert {i[1] for i in before} == {"C1", "C2"}
    seen: list[tuple[str, str]] = []
    cursor = None
    for step in range(20):
        page = queries.party_commitments(
            firm.principal, firm.party_id, status=status, limit=3, cursor=cursor
        )
        seen += keys(page)
        # Between pages: a new agreement in force, and an amendment adopted that rewrites
        # the commitments of an agreement already listed (same ids, other quantities).
        new = agreements.propose(firm.ctx(), two_commitments(firm, assoc)).body["id"]
        conclude(world, new, firm, assoc)
        amended = ids[step % len(ids)]
        agreements.propose_amendment(
            firm.ctx(),
            amended,
            two_commitments(firm, assoc, quantity=str(6 + step), keep=True),
            "Mehr",
        )
        conclude(world, amended, firm, assoc)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == before


def test_party_commitments_are_owed_and_received_with_status_filters(world: World) -> None:
    _state, firm, assoc = trio(world)
    agreements = world.services.agreements
    late = agreements.propose(firm.ctx(), draft(firm, assoc, due_on=date(2026, 5, 1))).body["id"]
    soon = agreements.propose(firm.ctx(), draft(firm, assoc, due_on=date(2026, 7, 1))).body["id"]
    done = agreements.propose(firm.ctx(), draft(firm, assoc, quantity="3")).body["id"]
    for agreement_id in (late, soon, done):
        conclude(world, agreement_id, firm, assoc)
    part = agreements.record_fulfilment(firm.ctx(), soon, "C1", "4", TODAY, "Vier Stunden").body
    agreements.confirm_fulfilment(assoc.ctx(), soon, part["id"])
    full = agreements.record_fulfilment(firm.ctx(), done, "C1", "3", TODAY, "Alles").body
    agreements.confirm_fulfilment(assoc.ctx(), done, full["id"])

    queries = world.services.queries

    def statuses(party: Member, status: str | None = None) -> dict[str, str]:
        page = queries.party_commitments(party.principal, party.party_id, status=status)
        return {i["agreement_id"]: i["status"] for i in page["items"]}

    assert statuses(firm) == {late: "overdue", soon: "partially_fulfilled", done: "fulfilled"}
    assert statuses(firm, "overdue") == {late: "overdue"}
    assert statuses(firm, "partially_fulfilled") == {soon: "partially_fulfilled"}
    assert statuses(firm, "fulfilled") == {done: "fulfilled"}
    assert statuses(firm, "open") == {}
    received = queries.party_commitments(assoc.principal, assoc.party_id)["items"]
    assert {i["direction"] for i in received} == {"received"}
    assert all(i["agreement_id"] for i in received)
    soon_item = next(i for i in received if i["agreement_id"] == soon)
    assert soon_item["confirmed_quantity"] == "4"
    with pytest.raises(DomainError):
        queries.party_commitments(firm.principal, assoc.party_id)


def test_stats_count_sector_mix_status_and_quantities(world: World) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    tri = agreements.propose(state.ctx(), draft(firm, assoc, state, quantity="12.5")).body["id"]
    agreements.propose(firm.ctx(), draft(firm, assoc))
    conclude(world, tri, state, firm, assoc)
    fulfilment = agreements.record_fulfilment(firm.ctx(), tri, "C1", "2.5", TODAY, "x").body
    agreements.confirm_fulfilment(assoc.ctx(), tri, fulfilment["id"])

    stats = world.services.queries.stats()
    assert stats["agreements"]["total"] == 2
    assert stats["agreements"]["by_sector_mix"] == {
        "trisectoral": 1,
        "bisectoral": 1,
        "intrasectoral": 0,
    }
    assert stats["agreements"]["by_status"]["in_force"] == 1
    assert stats["agreements"]["by_status"]["proposed"] == 1
    assert stats["agreements"]["trisectoral_share"] == "0.5000"
    assert stats["commitments"]["by_kind_and_unit"] == [
        {"kind": "time", "unit": "hours", "committed": "12.5", "fulfilled": "2.5"}
    ]
    months = {
        (m["month"], m["committed"], m["fulfilled"]) for m in stats["commitments"]["by_month"]
    }
    assert ("2026-06", "0", "2.5") in months


def test_stats_count_agreements_from_an_index_alone(world: World) -> None:
    # At 100,000 agreements, reading the wide rows to count them made /v1/stats slow.
    trio(world)
    database = world.services.store.database
    with database.transaction() as cur:
        if database.backend == "postgres":
            cur.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
        cur.execute(
            ("EXPLAIN " if database.backend == "postgres" else "EXPLAIN QUERY PLAN ")
            + AGREEMENT_COUNTS
        )
        plan = " ".join(str(column) for row in cur.fetchall() for column in row)
    assert "rm_agreements_mix_status" in plan
    assert ("Index Only Scan" if database.backend == "postgres" else "COVERING INDEX") in plan


# --------------------------------------------------------------------- text search

# Titles with what LIKE and FTS5 treat specially: wildcards, quotes, operators, case.
SEARCH_TITLES = (
    "100% Nachbarschaft",
    "Haus_der Kooperation",
    'Projekt "Kiez" a*b',
    "Straße der Vielfalt",
    "ẞ-Werkstatt AND OR NOT",
    "Garten (NEAR) ^Beet col:x - y",
    "Kiezküche Moabit",
)
SEARCH_TERMS = (
    *("100%", "0%", "%", "%%", "_", "r_d", "haus_der", "haus%der", "\\", "%_\\"),
    *('"kiez"', '"', '"kiez', "a*b", "*", "ab", "a", "b", "ß", "STRASSE", "straße"),
    *("ẞ-werk", "der", "DER KOOP", "and or not", "(near)", "^beet", "col:x", "- y", "NEAR"),
    *("moabit\ngemeinsam", "xyz", "   ", "ein", "ei", "nachbarn", "Kiez"),
)


def search_world(world: World) -> tuple[list[tuple[str, str]], Member]:
    """Agreements with `SEARCH_TITLES`, newest first, as (id, searched text); and one party."""
    state, firm, assoc = trio(world)
    found = []
    for number, title in enumerate(SEARCH_TITLES):
        members = (firm, assoc, state) if number % 2 else (state, firm)
        created = world.services.agreements.propose(members[0].ctx(), draft(*members, title=title))
        purpose = draft(firm, assoc).purpose
        found.append((created.body["id"], f"{title}\n{purpose}"))
    return found[::-1], assoc


def test_text_search_finds_exactly_the_substrings_special_characters_included(
    world: World,
) -> None:
    # The rows, order and pages of the plain scan it replaces: a case-insensitive substring
    # match, whatever the term holds (LIKE wildcards, FTS5 syntax) and however short it is.
    agreements, assoc = search_world(world)
    queries = world.services.queries
    own = set(all_ids(world, AgreementFilter(party=assoc.party_id)))
    for term in SEARCH_TERMS:
        expected = [i for i, text in agreements if term.casefold() in text.casefold()]
        assert all_ids(world, AgreementFilter(q=term)) == expected, term
        pages: list[str] = []
        cursor = None
        while True:
            page = queries.agreements(world.admin, AgreementFilter(q=term), limit=2, cursor=cursor)
            pages += [i["id"] for i in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert pages == expected, term
        # With the other filters: a partner's view, a party's, the trisectoral ones (its own).
        expected_own = [i for i in expected if i in own]
        mine = queries.agreements(assoc.principal, AgreementFilter(q=term))["items"]
        assert [i["id"] for i in mine] == expected_own, term
        assert all_ids(world, AgreementFilter(q=term, party=assoc.party_id)) == expected_own
        assert all_ids(world, AgreementFilter(q=term, sector_mix="trisectoral")) == expected_own


def explain(world: World, sql: str, params: list[Any]) -> str:
    database = world.services.store.database
    with database.transaction() as cur:
        if database.backend == "postgres":
            # A tiny table would be scanned, or walked along `seq`; at 100,000 agreements
            # the planner picks the trigram index by itself for a rare term (ADR 13).
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("SET LOCAL enable_indexscan = off")
        cur.execute(
            ("EXPLAIN " if database.backend == "postgres" else "EXPLAIN QUERY PLAN ") + sql, params
        )
        return " ".join(str(column) for row in cur.fetchall() for column in row)


def test_text_search_reads_the_trigram_index(world: World) -> None:
    # At 100,000 agreements a term found in few of them took a scan of every row.
    search_world(world)
    queries = world.services.queries
    plan = explain(world, *queries.agreements_statement(world.admin, AgreementFilter(q="koop")))
    assert "rm_agreements_search" in plan
    if world.services.store.database.backend == "postgres":
        assert "Bitmap Index Scan on rm_agreements_search" in plan
    else:
        assert "VIRTUAL TABLE INDEX" in plan
        # One or two characters hold no trigram: those scan, as before.
        plan = explain(world, *queries.agreements_statement(world.admin, AgreementFilter(q="ko")))
        assert "rm_agreements_search" not in plan


def test_text_search_follows_revisions_amendments_rebuilds_and_resets(world: World) -> None:
    _state, firm, assoc = trio(world)
    agreements = world.services.agreements
    bike = agreements.propose(firm.ctx(), draft(firm, assoc, title="Lastenrad für alle")).body["id"]
    shop = agreements.propose(firm.ctx(), draft(firm, assoc, title="Werkstatt im Kiez")).body["id"]
    agreements.revise(firm.ctx(), shop, draft(firm, assoc, title="Repair-Café im Kiez"), "Name")
    conclude(world, bike, firm, assoc)
    agreements.propose_amendment(
        assoc.ctx(), bike, draft(firm, assoc, title="Lastenräder für alle"), "Zwei Räder"
    )
    conclude(world, bike, firm, assoc)  # the amendment is adopted
    expected = {
        "lastenrad": [],
        "lastenräder": [bike],
        "für alle": [bike],
        "werkstatt": [],
        "repair-café": [shop],
        "im kiez": [shop],
        "nachbarn": [shop, bike],
        "ki": [shop],
    }

    def found() -> dict[str, list[str]]:
        return {term: all_ids(world, AgreementFilter(q=term)) for term in expected}

    assert found() == expected
    runner = world.services.projections
    runner.rebuild()
    assert found() == expected
    runner.rebuild_page, runner.rebuild_flush_events = 2, 4  # several writes of the stage
    runner.rebuild()
    assert found() == expected
    runner.reset()
    assert found() == {term: [] for term in expected}
    runner.catch_up()
    assert found() == expected


# Every character COPY's text format escapes or gives a meaning to, and some it does not.
AWKWARD_TEXT = "Zeile 1\nZeile 2\r\nTab\there \\N \\ \\t \\. Ende\u2028 Kiez\u00a0Café"


def test_a_rebuild_keeps_text_with_backslashes_tabs_and_line_breaks(world: World) -> None:
    _state, firm, assoc = trio(world)
    awkward = replace(draft(firm, assoc), purpose=AWKWARD_TEXT, terms=Terms(text=AWKWARD_TEXT))
    agreement_id = world.services.agreements.propose(firm.ctx(), awkward).body["id"]
    runner = world.services.projections
    assert_a_rebuild_changes_nothing(runner)
    with world.services.store.database.read() as cur:
        cur.execute("SELECT purpose FROM rm_agreements WHERE agreement_id=%s", (agreement_id,))
        assert cur.fetchone() == (AWKWARD_TEXT,)
        cur.execute("SELECT content FROM rm_revisions WHERE agreement_id=%s", (agreement_id,))
        assert json.loads(cur.fetchone()[0])["terms"]["text"] == AWKWARD_TEXT


def schema_of_read_models(services: Services) -> list[tuple[Any, ...]]:
    """Every table, column, index and constraint of the read models, as the catalogue has it."""
    database = services.store.database
    with database.read() as cur:
        if database.backend == "postgres":
            cur.execute(
                "SELECT 'column', table_name, column_name, data_type, is_nullable, "
                "ordinal_position::text FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name LIKE 'rm%%' "
                "UNION ALL SELECT 'index', tablename, indexname, indexdef, '', '' "
                "FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'rm%%' "
                "UNION ALL SELECT 'constraint', conrelid::regclass::text, conname, "
                "pg_get_constraintdef(oid), '', '' FROM pg_constraint "
                "WHERE conrelid::regclass::text LIKE 'rm%%'"
            )
        else:
            cur.execute("SELECT type, tbl_name, name, sql FROM sqlite_master WHERE name LIKE 'rm%'")
        return sorted(cur.fetchall())


def test_a_rebuild_leaves_the_schema_as_it_found_it(database_url: str) -> None:
    # On PostgreSQL a rebuild fills fresh tables, indexes them and swaps them in: the
    # names, columns, indexes and keys after it are the ones before, and the next rebuild
    # (or a process starting) finds them where it expects them.
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    build_history(world)
    before_schema = schema_of_read_models(services)
    assert any("rm_agreements_search" in str(row) for row in before_schema)
    before = services.projections.digest()
    services.projections.rebuild()
    assert schema_of_read_models(services) == before_schema
    assert services.projections.digest() == before
    services.projections.rebuild_page, services.projections.rebuild_flush_events = 3, 6
    services.projections.rebuild()  # several swaps in one rebuild
    assert schema_of_read_models(services) == before_schema
    assert services.projections.digest() == before
    if services.store.database.backend == "postgres":
        # The planner has statistics of the tables it was given (ANALYZE before the swap).
        with services.store.database.read() as cur:
            cur.execute(
                "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename IN ('rm_agreements', 'rm_agreement_parties', 'rm_commitments')"
            )
            assert len(cur.fetchall()) == 3
            # Of a revision's key, not of its content, which no query looks into.
            cur.execute(
                "SELECT attname FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename = 'rm_revisions' ORDER BY attname"
            )
            assert cur.fetchall() == [("agreement_id",), ("number",)]
            # An agreement's search text and status, not its title or purpose.
            cur.execute(
                "SELECT attname FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename = 'rm_agreements'"
            )
            analysed = {row[0] for row in cur.fetchall()}
            assert {"agreement_id", "search_text", "status", "sector_mix"} <= analysed
            assert not analysed & {"title", "purpose"}
    services.close()
    again = open_services(database_url, projections="inline")
    assert again.projections.digest() == before
    again.close()


@pytest.mark.postgres
def test_a_rebuild_replaces_fresh_tables_an_earlier_attempt_left(
    postgres_cluster: PostgresServer,
) -> None:
    # Half of the fresh tables are committed before the swap; an attempt that died between
    # the two leaves them behind, and the next rebuild must not trip over them or keep them.
    services = open_services(
        postgres_cluster.create_database(random_database_name()), projections="inline"
    )
    world = make_world(services)
    build_history(world)
    before = services.projections.digest()
    before_schema = schema_of_read_models(services)
    with services.store.database.transaction() as cur:
        for table in ("rm_agreements", "rm_revisions", "rm_parties", "rm_membership_history"):
            cur.execute(f"CREATE TABLE {table}__rebuilt (junk TEXT PRIMARY KEY)")
            cur.execute(f"INSERT INTO {table}__rebuilt VALUES ('left over')")
    services.projections.rebuild()
    assert schema_of_read_models(services) == before_schema
    assert services.projections.digest() == before
    services.close()


@pytest.fixture
def history_on_postgres(postgres_cluster: PostgresServer) -> Iterator[Services]:
    """Services on a fresh PostgreSQL database holding `build_history`'s events."""
    services = open_services(
        postgres_cluster.create_database(random_database_name()), projections="inline"
    )
    build_history(make_world(services))
    yield services
    services.close()


def lanes_writing(
    monkeypatch: pytest.MonkeyPatch, first: Callable[[list[tuple[str, str]]], None]
) -> list[tuple[str, str]]:
    """(thread, table) of every fresh table the rebuild's lanes begin to fill, in order;
    the first one runs `first` (given that list) before its rows go out."""
    begun: list[tuple[str, str]] = []
    lock = threading.Lock()
    write_rows = cursors.PostgresAdapter.write_rows

    def recorded(self: cursors.PostgresAdapter, table: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            begun.append((threading.current_thread().name, table))
            is_first = len(begun) == 1
        if is_first:
            first(begun)
        return write_rows(self, table, *args, **kwargs)

    monkeypatch.setattr(cursors.PostgresAdapter, "write_rows", recorded)
    return begun


@pytest.mark.postgres
def test_a_rebuild_lane_held_up_by_the_slowest_index_leaves_the_rest_to_the_other_lane(
    history_on_postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fresh tables are filled and indexed on two connections a piece at a time, a
    # table's indexes each a piece of its own; how long a piece takes is only guessed, so
    # a lane takes the next piece when it is done, not a share fixed up front.
    services = history_on_postgres
    before = services.projections.digest()
    tables_in_all = len(schema_tables(services))
    copied = lanes_writing(monkeypatch, lambda _: None)
    indexed: list[tuple[str, str]] = []  # (lane, index) as each build begins
    held: list[tuple[str, int]] = []  # the held-up lane, and the tables copied by then
    execute = cursors.PostgresAdapter.execute

    def other_lane_indexed_the_table(lane: str) -> bool:
        return any(other != lane and name.startswith("rm_agreements_") for other, name in indexed)

    def slow(self: cursors.PostgresAdapter, sql: Any, params: Any = (), /) -> Any:
        if isinstance(sql, str) and sql.startswith("CREATE INDEX"):
            lane = threading.current_thread().name
            indexed.append((lane, sql.split()[2]))
            if "USING gin" in sql:
                held.append((lane, len(copied)))
                # Until the other lane has copied every table left and begun another
                # index of this table.
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not (
                    len(copied) == tables_in_all and other_lane_indexed_the_table(lane)
                ):
                    time.sleep(0.01)
        return execute(self, sql, params)

    monkeypatch.setattr(cursors.PostgresAdapter, "execute", slow)
    services.projections.rebuild()
    monkeypatch.undo()
    assert services.projections.digest() == before
    tables = [table for _, table in copied]
    assert len(tables) == len(set(tables)) == tables_in_all
    [(held_up, copied_by_then)] = held
    assert copied_by_then < tables_in_all  # tables were left when it was held up
    assert all(lane != held_up for lane, _ in copied[copied_by_then:])
    assert other_lane_indexed_the_table(held_up)


@pytest.mark.postgres
def test_a_rebuild_gives_no_statistics_of_a_table_none_of_whose_columns_is_analysed(
    history_on_postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `Projection.unanalysed` may name every column of a table: it then gets no ANALYZE
    # at all (one of no columns would not parse), and the rebuild goes through.
    services = history_on_postgres
    before = services.projections.digest()
    projection = next(
        p for p in services.projections.projections if isinstance(p, AgreementsProjection)
    )
    unanalysed = {**projection.unanalysed, "rm_published": ("agreement_id", "seq")}
    monkeypatch.setattr(projection, "unanalysed", unanalysed)
    services.projections.rebuild()
    assert services.projections.digest() == before
    with services.store.database.read() as cur:
        cur.execute(
            "SELECT tablename FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename IN ('rm_published', 'rm_agreements') GROUP BY tablename"
        )
        assert cur.fetchall() == [("rm_agreements",)]


@pytest.mark.postgres
def test_a_rebuild_lane_that_fails_stops_the_other_and_the_read_models_stay(
    history_on_postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = history_on_postgres
    before = services.projections.digest()

    def lost(_: object) -> None:
        raise psycopg.OperationalError("the connection was lost")

    attempted = lanes_writing(monkeypatch, lost)
    with pytest.raises(Exception, match="the connection was lost"):
        services.projections.rebuild()
    monkeypatch.undo()
    # The other lane finished the table it had begun, if any, and took no other.
    assert 1 <= len(attempted) <= 2
    assert services.projections.digest() == before
    services.projections.rebuild()  # the next attempt replaces what this one left
    assert services.projections.digest() == before


@pytest.mark.postgres
def test_a_rebuild_lane_that_cannot_begin_stops_the_other(
    history_on_postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = history_on_postgres
    before = services.projections.digest()
    attempted = lanes_writing(monkeypatch, lambda _: None)

    def unopenable(self: Stage) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(Stage, "_connect", unopenable)
    with pytest.raises(Exception, match="unable to open database file"):
        services.projections.rebuild()
    monkeypatch.undo()
    assert len(attempted) <= 1  # the first lane's table, if it had begun one
    assert services.projections.digest() == before


def schema_tables(services: Services) -> set[str]:
    return {
        table
        for projection in services.projections.projections
        for table in projection.table_names()
    }


def test_a_store_from_before_the_search_index_gets_it_at_start(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    _state, firm, assoc = trio(world)
    agreement_id = services.agreements.propose(
        firm.ctx(), draft(firm, assoc, title="Haus der Kooperation")
    ).body["id"]
    database = services.store.database
    with database.transaction() as cur:  # as the previous version left it
        if database.backend == "postgres":
            cur.execute("DROP INDEX rm_agreements_search")
            cur.execute("DELETE FROM tris_schema")
        else:
            for trigger in ("insert", "update", "delete"):
                cur.execute(f"DROP TRIGGER rm_agreements_search_{trigger}")
            cur.execute("DROP TABLE rm_agreements_search")
    services.close()
    services = open_services(database_url, projections="inline")
    try:
        world = replace(world, services=services)
        assert all_ids(world, AgreementFilter(q="kooperation")) == [agreement_id]
        statement = services.queries.agreements_statement(world.admin, AgreementFilter(q="koop"))
        assert "rm_agreements_search" in explain(world, *statement)
    finally:
        services.close()


@pytest.mark.postgres
def test_postgres_without_pg_trgm_refuses_to_start_and_says_what_to_do(
    postgres_cluster: PostgresServer,
) -> None:
    # pg_trgm is trusted: only a role that may create objects in the database may add it.
    name = random_database_name()
    role = f"r_{name}"
    url = postgres_cluster.create_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    parts = urlsplit(url)
    limited = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    store = EventStore(limited)
    try:
        with pytest.raises(ProgrammingError) as refused:
            ProjectionRunner(store, default_projections())
        assert isinstance(refused.value.__cause__, psycopg.errors.InsufficientPrivilege)
        assert "TRIS needs the PostgreSQL extension pg_trgm" in str(refused.value)
        assert "have a superuser run CREATE EXTENSION pg_trgm" in str(refused.value)
        with psycopg.connect(url, autocommit=True) as conn:  # the operator, as told
            conn.execute("CREATE EXTENSION pg_trgm")
        ProjectionRunner(store, default_projections())
    finally:
        store.close()
        postgres_cluster.drop_database(name)
        with psycopg.connect(postgres_cluster.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# ------------------------------------------------------------- exactly once


class CrashingProjection(AgreementsProjection):
    """Dies after applying some events of a batch, before the batch commits."""

    def __init__(self, crash_after: int) -> None:
        super().__init__()
        self.remaining = crash_after

    def apply(self, cur: Any, position: int, event: Any) -> None:
        if self.remaining == 0:
            raise RuntimeError("killed between applying and committing")
        self.remaining -= 1
        super().apply(cur, position, event)


def build_history(world: World) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    for n in range(3):
        agreement_id = agreements.propose(
            firm.ctx(), draft(firm, assoc, state, title=f"Kooperation {n}")
        ).body["id"]
        conclude(world, agreement_id, firm, assoc, state)
        f = agreements.record_fulfilment(firm.ctx(), agreement_id, "C1", "4", TODAY, "x").body
        agreements.confirm_fulfilment(assoc.ctx(), agreement_id, f["id"])


@pytest.mark.parametrize("crash_after", [0, 1, 7, 20])
def test_a_projection_killed_mid_batch_resumes_without_loss_or_duplication(
    database_url: str, crash_after: int
) -> None:
    services = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    world = make_world(services)
    build_history(world)
    crashing = ProjectionRunner(services.store, [CrashingProjection(crash_after)], batch_size=4)
    with pytest.raises(ProjectionFailedError) as crash:
        crashing.catch_up()
    assert isinstance(crash.value.__cause__, RuntimeError)
    # A new process starts and carries on from whatever was committed.
    services.projections.catch_up()
    digest = services.projections.digest()
    stats = services.queries.stats()
    services.projections.rebuild()
    assert services.projections.digest() == digest
    assert services.queries.stats() == stats
    assert stats["commitments"]["by_kind_and_unit"][0]["fulfilled"] == "12"
    services.close()


class FailingAtTheEnd(AgreementsProjection):
    """Refuses to write what its batch kept back."""

    def flush(self, cur: Any) -> None:
        raise ValueError("cannot write this batch")


def test_a_batch_failing_at_its_end_is_reported_at_its_last_event(database_url: str) -> None:
    services = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    world = make_world(services)
    build_history(world)
    failing = ProjectionRunner(services.store, [FailingAtTheEnd()], batch_size=4)
    with pytest.raises(ProjectionFailedError) as failure:
        failing.catch_up()
    assert failure.value.projection == "agreements"
    assert failure.value.position == 4  # the batch's last event
    assert "ValueError: cannot write this batch" in failure.value.cause
    assert failing.failures()["agreements"][0] == 4
    assert failing.positions()["agreements"] == 0  # nothing of the batch was kept
    services.close()


class FailingAtPosition(AgreementsProjection):
    """Cannot apply the event at one position."""

    def __init__(self, position: int) -> None:
        super().__init__()
        self.failing_at = position

    def apply(self, cur: Any, position: int, event: Any) -> None:
        if position == self.failing_at:
            raise ValueError("cannot apply this one")
        super().apply(cur, position, event)


def test_a_rebuild_reports_the_projection_and_event_it_failed_on(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    build_history(make_world(services))
    before = services.projections.digest()
    at = services.store.log.head() - 2
    failing = ProjectionRunner(services.store, [FailingAtPosition(at)])
    with pytest.raises(ProjectionFailedError) as failure:
        failing.rebuild()
    assert (failure.value.projection, failure.value.position) == ("agreements", at)
    assert "ValueError: cannot apply this one" in failure.value.cause
    assert services.projections.digest() == before
    services.close()


def test_a_statement_failing_on_a_commands_own_event_is_reported_at_that_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, firm, assoc = trio(world)
    agreements = world.services.agreements
    created = agreements.propose(state.ctx(), draft(firm, assoc, state)).body
    conclude(world, created["id"], state, firm)
    projection = next(p for p in world.services.projections.projections if p.name == "agreements")
    apply = projection.apply

    def failing_on_signatures(cur: Any, position: int, event: Any) -> None:
        apply(cur, position, event)
        if type(event).__name__ == "Signed":
            # A statement the database refuses, last in its event: in a pipelined batch
            # the refusal would surface only at the next event's read (`Concluded`).
            cur.execute(
                "INSERT INTO tris_tracking (projection, position, schema_version) "
                "VALUES ('agreements', 0, 1)"
            )

    monkeypatch.setattr(projection, "apply", failing_on_signatures)
    conclude(world, created["id"], assoc)  # the last signature: Signed, then Concluded
    runner = world.services.projections
    assert agreements.get(world.admin, created["id"])["status"] == "in_force"  # it stands
    failure = runner.failures()["agreements"]
    assert failure[1] == "Signed" and "tris_tracking" in failure[2]
    assert runner.positions()["agreements"] == failure[0] - 1
    monkeypatch.setattr(projection, "apply", apply)
    runner.catch_up()
    listed = world.services.queries.agreements(firm.principal, AgreementFilter())["items"]
    assert [i["status"] for i in listed] == ["in_force"]


def test_an_interrupted_rebuild_resumes(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    build_history(world)
    before = services.projections.digest()
    services.projections.batch_size = 5

    def interrupt(position: int, head: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.projections.rebuild(progress=interrupt)
    assert services.projections.rebuild() is True
    assert services.projections.rebuild() is False
    assert services.projections.digest() == before
    services.close()


def test_a_rebuild_interrupted_after_writing_resumes_from_what_it_wrote(
    database_url: str,
) -> None:
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    build_history(world)
    before = services.projections.digest()
    head = services.projections.head()
    runner = services.projections
    runner.rebuild_page, runner.rebuild_flush_events = 4, 8
    seen: list[int] = []

    def interrupt_after_a_write(position: int, head: int) -> None:
        seen.append(position)
        if len(seen) == 3:  # 12 events applied, the first 8 written to the store
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.rebuild(progress=interrupt_after_a_write)
    written = {s.name: s.position for s in runner.status()}
    assert set(written.values()) == {seen[1]}  # the stage as of the write, nothing after
    resumed: list[int] = []
    assert runner.rebuild(progress=lambda position, head: resumed.append(position)) is True
    assert resumed[0] == seen[1] + 4  # carried on after the written position
    assert runner.digest() == before
    assert {s.name: s.position for s in runner.status()} == dict.fromkeys(written, head)
    assert runner.rebuild() is False
    services.close()


def test_read_models_stay_served_until_a_rebuild_writes(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    build_history(world)
    before = services.projections.digest()
    stats = services.queries.stats()
    services.projections.rebuild_page = 3

    def look(position: int, head: int) -> None:
        assert services.projections.digest() == before
        assert services.queries.stats() == stats
        if position > 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.projections.rebuild(progress=look)
    assert services.projections.digest() == before
    services.close()


def test_an_agreement_proposed_and_changed_in_one_batch_is_projected_as_event_by_event(
    database_url: str,
) -> None:
    # A new agreement's rows are written together at the end of a batch, or before any
    # other event of it is applied: a batch holding its whole life must give the same
    # read models as batches of one event.
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    state, firm, assoc = trio(world)
    agreements = services.agreements
    build_history(world)
    shop = agreements.propose(firm.ctx(), draft(firm, assoc, title="Werkstatt")).body["id"]
    agreements.revise(firm.ctx(), shop, draft(firm, assoc, title="Repair-Café"), "Name")
    conclude(world, shop, firm, assoc)
    agreements.propose_amendment(assoc.ctx(), shop, draft(firm, assoc, state, title="Drei"), "+")
    conclude(world, shop, firm, assoc, state)
    runner = services.projections
    digests = []
    for size in (1, 7, 10_000):
        runner.reset()
        runner.batch_size = size
        runner.catch_up()
        digests.append(runner.digest())
        assert all_ids(world, AgreementFilter(q="drei")) == [shop]
    assert digests[0] == digests[1] == digests[2]
    services.close()


def test_racing_workers_apply_each_event_once(database_url: str) -> None:
    services = open_services(database_url, projections="worker", read_your_writes_timeout=0)
    world = make_world(services)
    workers = [
        ProjectionRunner(services.store, default_projections(), batch_size=3) for _ in range(3)
    ]
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run_forever, args=(stop,), kwargs={"interval": 0.001})
        for w in workers
    ]
    for thread in threads:
        thread.start()
    try:
        build_history(world)
        assert services.projections.wait_for(services.projections.head(), timeout=30)
    finally:
        stop.set()
        joined(*threads)
    live = services.projections.digest()
    stats = services.queries.stats()
    services.projections.rebuild()
    assert services.projections.digest() == live
    assert stats["commitments"]["by_kind_and_unit"][0]["fulfilled"] == "12"
    services.close()


def test_digest_is_equal_for_two_stores_with_the_same_events(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    world = make_world(services)
    build_history(world)
    first = services.projections.digest()
    services.projections.reset()
    assert services.projections.digest() != first
    services.projections.catch_up()
    assert services.projections.digest() == first
    services.close()


# --------------------------------------------------------------- properties

ACTIONS = st.lists(
    st.sampled_from(
        [
            "propose",
            "revise",
            "sign",
            "fulfil",
            "confirm",
            "dispute",
            "withdraw",
            "terminate",
            "amend",
            "post",
            "post",
            "deal",
            "notarise",
        ]
    ),
    min_size=1,
    max_size=25,
)


# Quantities whose sums PostgreSQL adds as `numeric` and a rebuild as `Decimal` (both must
# write the same text): scales that differ, the smallest and the largest allowed.
QUANTITIES = ("10", "2.5", "1.50", "0.000001", "0.10", "9999999999999999.999999")


def open_market(world: World, members: list[Member]) -> str:
    """A market organised and notarised by the first member, brokered by the second, with
    every member taking part; open."""
    markets = world.services.markets
    plan = MarketPlan(
        title="Marktplatz Moabit",
        format=MarketFormat.MARKETPLACE,
        region="Berlin-Moabit",
        venue=None,
        starts_at=datetime(2026, 6, 1, 14, tzinfo=UTC),
        ends_at=datetime(2026, 6, 1, 16, tzinfo=UTC),
        organisers=(members[0].party_id,),
        brokers=(members[1].party_id,),
        notaries=(members[0].party_id,),
    )
    market_id: str = markets.schedule(world.admin_ctx(), plan).body["id"]
    for member in members:
        markets.admit(members[0].ctx(), market_id, member.party_id)
    markets.open(members[0].ctx(), market_id)
    return market_id


def expected_listing(services: Services, admin: Any, agreement_id: str) -> dict[str, Any]:
    """What the listing must say of an agreement, from the aggregate the events make (the
    domain's view, not the projection's code)."""
    view = services.agreements.get(admin, agreement_id)
    return {
        "id": view["id"],
        "title": view["content"]["title"],
        "status": view["status"],
        "sector_mix": view["sector_mix"],
        "proposer": view["proposer"],
        "version": view["version"],
        "revision": view["revision"],
        "in_force_revision": view["in_force_revision"],
    }


def expected_totals(services: Services, admin: Any) -> dict[str, Decimal]:
    """What every agreement in the store committed (the revision in force) and the deliveries
    confirmed, from the aggregates' views."""
    committed = fulfilled = Decimal(0)
    for aggregate_id in services.store.log.aggregate_ids():
        try:
            view = services.agreements.get(admin, aggregate_id)
        except DomainError:
            continue  # a party
        if view["in_force_revision"] is None:
            continue
        committed += sum(Decimal(c["quantity"]) for c in view["content"]["commitments"])
        fulfilled += sum(
            Decimal(f["quantity"]) for f in view["fulfilments"] if f["status"] == "confirmed"
        )
    return {"committed": committed, "fulfilled": fulfilled}


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS, picks=st.randoms(use_true_random=False))
def test_read_models_equal_a_rebuild_after_random_commands(
    database_url: str, actions: list[str], picks: Any
) -> None:
    services = open_services(database_url, projections="inline")
    try:
        world = make_world(services)
        members = list(trio(world))
        agreements = services.agreements
        ids: list[str] = []
        fulfilments: list[tuple[str, str]] = []
        succeeded: set[str] = set()
        market_id = open_market(world, members)
        postings: dict[str, list[dict[str, Any]]] = {"offer": [], "need": []}
        for action in actions:
            actor = picks.choice(members)
            target = picks.choice(ids) if ids else None
            try:
                if action == "propose" or target is None:
                    others = [m for m in members if m is not actor]
                    content = draft(actor, picks.choice(others), quantity=picks.choice(QUANTITIES))
                    ids.append(agreements.propose(actor.ctx(), content).body["id"])
                elif action == "revise":
                    view = agreements.get(world.admin, target)
                    parties = [m for m in members if m.party_id in view["content"]["parties"]]
                    content = draft(
                        *parties, title="Überarbeitet", quantity=picks.choice(QUANTITIES)
                    )
                    agreements.revise(actor.ctx(), target, content, "Anpassung")
                elif action == "sign":
                    view = agreements.get(world.admin, target)
                    for member in members:
                        if member.party_id in view["content"]["parties"]:
                            world.sign(member, target, view["revision"])
                elif action == "fulfil":
                    view = agreements.get(world.admin, target)
                    debtor = next(
                        m
                        for m in members
                        if m.party_id == view["content"]["commitments"][0]["debtor"]
                    )
                    f = agreements.record_fulfilment(
                        debtor.ctx(), target, "C1", picks.choice(QUANTITIES), TODAY, "x"
                    ).body
                    fulfilments.append((target, f["id"]))
                elif action in ("confirm", "dispute") and fulfilments:
                    agreement_id, fid = picks.choice(fulfilments)
                    if action == "confirm":
                        agreements.confirm_fulfilment(actor.ctx(), agreement_id, fid)
                    else:
                        agreements.dispute_fulfilment(
                            actor.ctx(), agreement_id, fid, "Nicht erhalten"
                        )
                elif action == "withdraw":
                    agreements.withdraw(actor.ctx(), target, "Kein Bedarf mehr")
                elif action == "terminate":
                    agreements.terminate(actor.ctx(), target, "Projekt beendet")
                elif action == "amend":
                    view = agreements.get(world.admin, target)
                    parties = [m for m in members if m.party_id in view["content"]["parties"]]
                    agreements.propose_amendment(
                        actor.ctx(),
                        target,
                        draft(*parties, quantity=picks.choice(QUANTITIES)),
                        "Mehr Stunden",
                    )
                elif action == "post":
                    side = picks.choice((PostingSide.OFFER, PostingSide.NEED))
                    posted = services.markets.post(
                        actor.ctx(),
                        market_id,
                        side,
                        PostingDraft(picks.choice(("time", "space")), "2", "hours", "Hilfe"),
                    ).body
                    postings[side.value].append(posted)
                elif action == "deal":
                    offer = picks.choice(postings["offer"]) if postings["offer"] else None
                    needs = [n for n in postings["need"] if offer is None or
                             n["party_id"] != offer["party_id"]]  # fmt: skip
                    need = picks.choice(needs) if needs else None
                    request = DealRequest(
                        title="Marktplatz-Deal",
                        offer_id=offer["id"] if offer else None,
                        need_id=need["id"] if need else None,
                    )
                    ids.append(
                        services.markets.make_deal(members[1].ctx(), market_id, request).body[
                            "agreement_id"
                        ]
                    )
                elif action == "notarise":
                    notary = members[0]
                    view = agreements.get(world.admin, target)
                    payload = agreements.signing_payload(
                        world.admin, target, view["in_force_revision"] or view["revision"]
                    )
                    services.markets.notarise(
                        notary.ctx(), target, notary.key_id, notary.signature(payload)
                    )
                event(f"done: {action}")
                succeeded.add(action)
            except DomainError as refusal:
                # Rule refusals are part of random sequences; counted, not hidden.
                event(f"refused: {action} ({type(refusal).__name__})")
        deep = succeeded & {"amend", "fulfil", "confirm", "terminate"}
        event(f"the example reached: {', '.join(sorted(deep)) or 'nothing deep'}")
        # An independent model: the listing and the totals must say what the aggregates say.
        admin = world.admin
        listed = services.queries.agreements(admin, AgreementFilter(), limit=500)["items"]
        shown = {item["id"]: item for item in listed}
        for agreement_id in ids:
            item = {
                k: shown[agreement_id][k] for k in expected_listing(services, admin, agreement_id)
            }
            assert item == expected_listing(services, admin, agreement_id)
        stats_rows = services.queries.stats()["commitments"]["by_kind_and_unit"]
        assert {
            "committed": sum((Decimal(r["committed"]) for r in stats_rows), Decimal(0)),
            "fulfilled": sum((Decimal(r["fulfilled"]) for r in stats_rows), Decimal(0)),
        } == expected_totals(services, admin)
        # The market's figures say what the event stream says.
        stream = EventStream(services.store)
        items = [stored.item for stored in stream.iterate(0, stream.head())]
        market_stats = services.queries.market_stats(market_id)
        shown_stats = {k: v for k, v in market_stats.items() if k not in ("market_id", "status")}
        assert shown_stats == stats_from_events(items, market_id)
        live = services.projections.digest()
        stats = services.queries.stats()
        services.projections.rebuild()
        assert services.projections.digest() == live
        assert services.queries.stats() == stats
        assert services.queries.market_stats(market_id) == market_stats
    finally:
        services.close()


def partnered_history(world: World) -> tuple[list[str], str]:
    """Agreements in every state, in both halves a rebuild's partner splits them into:
    their commitments add to the same totals (kind, unit, month), their text holds what
    COPY's text format escapes. Returns their ids and a market's."""
    members = list(trio(world))
    state, firm, assoc = members
    agreements = world.services.agreements
    market_id = open_market(world, members)
    ids = []
    for n in range(16):
        content = replace(
            draft(firm, assoc, state, title=f"Kooperation {n} \\N \\ Schräg", quantity=f"{n}.5"),
            purpose="Mit\tTab,\nZeile und\r\nWagenrücklauf, \\N und \\t",
        )
        agreement_id = agreements.propose(firm.ctx(), content).body["id"]
        ids.append(agreement_id)
        if n % 4 == 3:
            agreements.withdraw(firm.ctx(), agreement_id, "Kein Bedarf\tmehr")
            continue
        conclude(world, agreement_id, firm, assoc, state)
        f = agreements.record_fulfilment(firm.ctx(), agreement_id, "C1", "1", TODAY, "x").body
        if n % 3 == 0:
            agreements.dispute_fulfilment(assoc.ctx(), agreement_id, f["id"], "Nicht erhalten")
        else:
            agreements.confirm_fulfilment(assoc.ctx(), agreement_id, f["id"])
        if n % 5 == 0:
            agreements.propose_amendment(
                firm.ctx(), agreement_id, draft(firm, assoc, state, quantity="20"), "Mehr"
            )
            conclude(world, agreement_id, firm, assoc, state)
    markets = world.services.markets
    offer = markets.post(
        firm.ctx(), market_id, PostingSide.OFFER, PostingDraft("time", "2", "hours", "Hilfe")
    ).body
    need = markets.post(
        assoc.ctx(), market_id, PostingSide.NEED, PostingDraft("time", "2", "hours", "Bedarf")
    ).body
    request = DealRequest(title="Marktplatz-Deal \\N", offer_id=offer["id"], need_id=need["id"])
    ids.append(
        world.services.markets.make_deal(firm.ctx(), market_id, request).body["agreement_id"]
    )
    return ids, market_id


# A byte bound that gives both processes some of the test histories' agreements (a
# rebuild chooses its own, `bound_for_share`; the tests below pin this one).
SPLIT = 111


def partner_part(log: EventLog) -> LogPart:
    """The part of the whole log a rebuild's partner takes with the bound `SPLIT`."""
    topics = agreement_topics({topic for topic, _ in log.tallies_up_to(log.head())})
    return LogPart(topics, SPLIT, inside=True)


def test_the_database_splits_the_log_as_the_partner_rule_says(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    try:
        ids, _ = partnered_history(make_world(services))
        log = services.store.log
        part = partner_part(log)
        rest = replace(part, inside=False)
        assert len(part.topics) > 5  # the agreements' event types, as stored
        everything = log.notifications(0, 10_000)

        def read(which: LogPart, page: int) -> list[int]:
            positions, after = [], 0
            while notes := log.notifications(after, page, until=log.head(), part=which):
                positions += [n.id for n in notes]
                after = notes[-1].id
            return positions

        theirs, mine = read(part, 7), read(rest, 7)
        assert theirs == [n.id for n in everything if part.holds(n.originator_id, n.topic)]
        assert mine == [n.id for n in everything if rest.holds(n.originator_id, n.topic)]
        assert sorted(theirs + mine) == [n.id for n in everything]
        # Both parts hold agreements' events; only the first process's holds the others.
        taken = {n.originator_id for n in everything if n.id in set(theirs)}
        assert {str(i) for i in taken} < set(ids)
        assert any(str(n.originator_id) in ids for n in everything if n.id in set(mine))
        assert LogPart((), SPLIT, inside=True).holds(everything[0].originator_id, "x") is False
        assert read(LogPart((), SPLIT, inside=True), 50) == []
        assert read(LogPart((), SPLIT, inside=False), 50) == [n.id for n in everything]
    finally:
        services.close()


def test_a_rebuild_with_a_partner_process_equals_one_without(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = open_services(database_url, projections="inline")
    try:
        world = make_world(services)
        ids, market_id = partnered_history(world)
        halves = {UUID(i).int & 0xFF < SPLIT for i in ids}
        assert halves == {True, False}  # both processes have agreements to apply
        # Proposals left alone in both halves: each process holds their rows in memory to
        # the end (ADR 36), and the first writes the partner's beside its own.
        state, firm, assoc = trio(world)
        alone: list[str] = []
        for _ in range(64):
            alone.append(
                services.agreements.propose(firm.ctx(), draft(firm, assoc, state)).body["id"]
            )
            if {UUID(i).int & 0xFF < SPLIT for i in alone} == {True, False}:
                break
        assert {UUID(i).int & 0xFF < SPLIT for i in alone} == {True, False}
        live = services.projections.digest()
        stats, market_stats = services.queries.stats(), services.queries.market_stats(market_id)
        runner = services.projections
        runner.rebuild_partner_events = 0
        runner.rebuild_partner_bound = SPLIT
        # The partner's part ends just after the first proposal it takes: this process
        # then applies the rest of that agreement's life on top of the partner's rows.
        log = services.store.log
        part = partner_part(log)
        first = next(
            n for n in log.notifications(0, 10_000) if part.holds(n.originator_id, n.topic)
        )
        runner.rebuild_flush_events = first.id
        started: list[int] = []
        spawn = runner._partner
        runner._partner = lambda *a: started.append(1) or spawn(*a)  # type: ignore[method-assign]
        # The partner holds its new agreements' rows to its end too, and hands them over
        # apart from its stage (ADR 36): the agreements it held, per rebuild.
        handed: list[set[str]] = []
        # On PostgreSQL a partner whose part ends at the log's head copies its rows into
        # the fresh tables itself instead (each table's rows, per rebuild).
        prefilled: list[dict[str, int]] = []
        take = Partner.held

        def held(partner: Partner) -> dict[str, list[tuple[Any, ...]]]:
            rows = take(partner)
            handed.append({row[0] for row in rows.get("rm_agreements", ())})
            prefilled.append({table: n for table, (_, n) in partner.prefilled.items()})
            return rows

        monkeypatch.setattr(Partner, "held", held)
        runner.reset()
        runner.rebuild()
        assert started
        # Its last proposal, held, is added to this process's stage, which applies the
        # rest of that agreement's life on top of it.
        assert str(first.originator_id) in handed[-1]
        assert runner.digest() == live
        assert services.queries.stats() == stats
        assert services.queries.market_stats(market_id) == market_stats
        assert prefilled[-1] == {}  # its stage was added to this one's
        runner.rebuild_flush_events = 10_000  # the partner takes everything
        runner.rebuild()
        theirs = {i for i in alone if UUID(i).int & 0xFF < SPLIT}
        if services.store.database.backend == "postgres":
            # It copied every agreement of its part into the fresh tables, held or not.
            with services.store.database.read() as cur:
                cur.execute("SELECT agreement_id FROM rm_agreements")
                agreements = [row[0] for row in cur.fetchall()]
            assert prefilled[-1]["rm_agreements"] == sum(
                UUID(i).int & 0xFF < SPLIT for i in agreements
            )
            assert theirs <= set(agreements)
            assert handed[-1] == set()
        else:
            # Its proposals left alone are written beside both stages.
            assert theirs <= handed[-1]
            assert prefilled[-1] == {}
        assert runner.digest() == live
        assert services.queries.stats() == stats
    finally:
        services.close()


@pytest.mark.parametrize("held_bytes", [0, 1 << 30])
def test_a_rebuild_holds_new_agreements_rows_until_they_change_or_it_writes(
    database_url: str, held_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild keeps the rows of the agreements its pages propose in memory, across
    pages, and hands them to its write beside the stage (ADR 36): an agreement's next
    event finds its rows written first, a write before the log's end puts them in the
    stage, and beyond the bound every batch writes them. The read models equal the live
    ones whatever the pages, and afterwards commands write their rows as before."""
    services = open_services(database_url, projections="inline")
    try:
        world = make_world(services)
        _, market_id = partnered_history(world)
        # Proposed, then only signed: an event that changes nothing but its version and time.
        state, firm, assoc = trio(world)
        signed = services.agreements.propose(firm.ctx(), draft(firm, assoc, state)).body["id"]
        world.sign(assoc, signed, 1)
        live, stats = services.projections.digest(), services.queries.stats()
        market_stats = services.queries.market_stats(market_id)
        runner = services.projections
        projection = next(p for p in runner.projections if isinstance(p, AgreementsProjection))
        projection.held_bytes = held_bytes
        taken: list[int] = []
        take = projection.take_held

        def take_counted() -> dict[str, list[tuple[Any, ...]]]:
            held = take()
            taken.append(sum(len(rows) for rows in held.values()))
            return held

        monkeypatch.setattr(projection, "take_held", take_counted)
        # Interrupted after a write just after the first proposal, a rebuild resumes from
        # what that wrote: the rows held then must be in it.
        log = services.store.log
        proposal = next(n for n in log.notifications(0, 10_000) if n.topic.endswith("Proposed"))
        runner.rebuild_page, runner.rebuild_flush_events = 1, proposal.id

        def interrupt_after_a_write(position: int, head: int) -> None:
            if position > proposal.id:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            runner.rebuild(progress=interrupt_after_a_write)
        assert runner.rebuild() is True
        assert runner.digest() == live
        for page, flush in ((2, 5), (3, 10_000)):
            runner.rebuild_page, runner.rebuild_flush_events = page, flush
            runner.rebuild()
            assert runner.digest() == live
            assert services.queries.stats() == stats
            assert services.queries.market_stats(market_id) == market_stats
        # The market's deal is proposed and left alone: held to the end.
        assert taken[-1] > 0 if held_bytes else taken[-1] == 0
        assert not projection.holding
        title = "Nach dem Neuaufbau"
        services.agreements.propose(firm.ctx(), draft(firm, assoc, state, title=title))
        listed = services.queries.agreements(firm.principal, AgreementFilter())["items"]
        assert title in [item["title"] for item in listed]
        assert_a_rebuild_changes_nothing(runner)
    finally:
        services.close()


@pytest.fixture
def partnered_services(database_url: str) -> Iterator[Services]:
    """Services with a history whose rebuilds, however short, take a partner process."""
    services = open_services(database_url, projections="inline")
    build_history(make_world(services))
    services.projections.rebuild_partner_events = 0
    yield services
    services.close()


def rebuild_fails_then_recovers(
    runner: ProjectionRunner, monkeypatch: pytest.MonkeyPatch, before: str, reason: str
) -> None:
    """A rebuild fails for `reason` and leaves the read models' digest `before`; with the
    fault undone, the next rebuild makes them alike again."""
    with pytest.raises(ProjectionFailedError) as failed:
        runner.rebuild()
    assert reason in str(failed.value)
    assert runner.digest() == before  # the store's read models were not touched
    monkeypatch.undo()
    runner.rebuild()
    assert runner.digest() == before


@pytest.mark.parametrize("handover", ["missing", "cut short"])
def test_a_partner_whose_held_rows_cannot_be_read_fails_the_rebuild_and_changes_nothing(
    partnered_services: Services, monkeypatch: pytest.MonkeyPatch, handover: str
) -> None:
    runner = partnered_services.projections
    before = runner.digest()
    waited = Partner.wait

    def spoiled(partner: Partner) -> tuple[int, Tally]:
        outcome = waited(partner)
        if handover == "missing":
            partner.held_path.unlink()
        else:
            partner.held_path.write_bytes(partner.held_path.read_bytes()[:-1])
        return outcome

    monkeypatch.setattr(Partner, "wait", spoiled)
    rebuild_fails_then_recovers(
        runner, monkeypatch, before, "the rows the partner process handed over cannot be read"
    )


@pytest.mark.postgres
def test_a_partners_copied_rows_replaced_by_another_rebuild_fail_the_attempt_not_the_store(
    history_on_postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A partner whose part ends at the log's head copies its rows into the fresh tables
    # itself before the first process writes; should another rebuild's swap replace one
    # of those tables meanwhile, the first process must not write beside a stranger's.
    services = history_on_postgres
    runner = services.projections
    runner.rebuild_partner_events = 0
    before = runner.digest()
    schema = schema_of_read_models(services)
    merge = Stage.merge

    def replaced(stage: Stage, *args: Any, **kwargs: Any) -> None:
        merge(stage, *args, **kwargs)
        assert "rm_agreements" in kwargs["prefilled"]
        with services.store.database.transaction() as cur:
            cur.execute("DROP TABLE rm_agreements__rebuilt")
            cur.execute("CREATE TABLE rm_agreements__rebuilt (LIKE rm_agreements)")

    monkeypatch.setattr(Stage, "merge", replaced)
    rebuild_fails_then_recovers(
        runner, monkeypatch, before, "another rebuild replaced the rows the partner process copied"
    )
    assert schema_of_read_models(services) == schema  # nothing of the attempt is left


@pytest.mark.parametrize(
    "recipe, failure",
    [
        (
            PartnerRecipe(EventLog, rebuild_support.refusing_projections),
            "UnwritableProjectionsError: no projections here",
        ),
        (
            PartnerRecipe(rebuild_support.dying_log, default_projections),
            "ended without finishing (exit code 3)",
        ),
    ],
)
def test_a_partner_that_fails_fails_the_rebuild_and_changes_nothing(
    partnered_services: Services, database_url: str, recipe: PartnerRecipe, failure: str
) -> None:
    runner = partnered_services.projections
    before = runner.digest()
    if recipe.open_log is EventLog:
        recipe = PartnerRecipe(partial(EventLog, database_url), recipe.make_projections)
    runner.partner = recipe
    with pytest.raises(ProjectionFailedError) as failed:
        runner.rebuild()
    assert failure in str(failed.value)
    assert runner.digest() == before  # the store's read models were not touched
    runner.partner = None
    runner.rebuild()
    assert runner.digest() == before


def test_a_partner_that_read_another_stretch_of_the_log_fails_the_rebuild(
    partnered_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = partnered_services.projections
    before = runner.digest()
    waited = Partner.wait
    monkeypatch.setattr(
        Partner, "wait", lambda partner: (waited(partner)[0] - 1, waited(partner)[1])
    )
    with pytest.raises(ProjectionFailedError) as failed:
        runner.rebuild()
    assert "the partner process read the log to position" in str(failed.value)
    assert runner.digest() == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: Tally(t.events - 1, t.positions - 1), id="one event fewer"),
        pytest.param(lambda t: Tally(t.events, t.positions + 1), id="another event"),
    ],
)
def test_a_partner_that_applied_other_events_than_its_part_fails_the_rebuild(
    partnered_services: Services,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Tally], Tally],
) -> None:
    runner = partnered_services.projections
    before = runner.digest()
    waited = Partner.wait

    def reported(partner: Partner) -> tuple[int, Tally]:
        reached, applied = waited(partner)
        return reached, change(applied)

    monkeypatch.setattr(Partner, "wait", reported)
    with pytest.raises(ProjectionFailedError) as failed:
        runner.rebuild()
    assert "this process applied" in str(failed.value)
    assert runner.digest() == before


def test_the_log_counted_by_topic_and_last_byte_adds_up_to_its_events(database_url: str) -> None:
    services = open_services(database_url, projections="inline")
    try:
        partnered_history(make_world(services))
        log = services.store.log
        head = log.head()
        tallies = log.tallies_up_to(head)
        stored = [(n.id, n.originator_id, n.topic) for n in log.notifications(0, 100_000)]
        assert sum(t.events for t in tallies.values()) == len(stored) == head
        assert sum(t.positions for t in tallies.values()) == sum(p for p, _, _ in stored)
        by_key = Counter((topic, originator.int & 0xFF) for _, originator, topic in stored)
        assert {key: t.events for key, t in tallies.items()} == by_key
        assert len({byte for _, byte in tallies}) > 1
        assert log.tallies_up_to(head - 1) != tallies
    finally:
        services.close()


def test_a_rebuild_gives_its_partner_the_bound_that_balances_the_work(
    database_url: str,
) -> None:
    services = open_services(database_url, projections="inline")
    try:
        partnered_history(make_world(services))
        live = services.projections.digest()
        runner = services.projections
        runner.rebuild_partner_events = 0
        tallies = services.store.log.tallies_up_to(services.store.log.head())
        topics = agreement_topics({topic for topic, _ in tallies})
        parts: list[LogPart] = []
        spawn = runner._partner

        def started(*args: Any) -> Partner | None:
            partner = spawn(*args)
            assert partner is not None
            parts.append(partner.part)
            return partner

        runner._partner = started  # type: ignore[method-assign]
        runner.rebuild()
        assert parts == [LogPart(topics, bound_for_share(tallies, topics, PARTNER_SHARE), True)]
        assert runner.digest() == live
    finally:
        services.close()


def test_a_partner_that_cannot_start_fails_the_rebuild(
    partnered_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = partnered_services.projections
    before = runner.digest()
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # ends at once, reads nothing
    with pytest.raises(ProjectionFailedError) as failed:
        runner.rebuild()
    assert "ended without finishing (exit code 1)" in str(failed.value)
    assert runner.digest() == before


def run_partner(handed: tuple[Any, ...]) -> subprocess.CompletedProcess[bytes]:
    """A partner process run as a rebuild starts it, given what a rebuild hands it."""
    return subprocess.run(
        [sys.executable, "-m", "tris.application.readmodels.partner"],
        input=pickle.dumps(handed),
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_a_partner_whose_rebuild_has_ended_stops_without_an_outcome(
    database_url: str, tmp_path: Path
) -> None:
    services = open_services(database_url, projections="inline")
    try:
        build_history(make_world(services))
        recipe = PartnerRecipe(partial(EventLog, database_url), default_projections)
        outcome = tmp_path / "partner.db.outcome"
        # Its parent is this test, not the process named as the rebuild's (long gone).
        printed = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            check=True,
        )
        gone = int(printed.stdout)
        part = partner_part(services.store.log)
        handed = (recipe, tmp_path / "partner.db", 100, 2, part, None, outcome)
        ended = run_partner((*handed, gone, CODE))
        assert ended.returncode == 1, ended.stderr
        assert not outcome.exists()
        # Named as its parent, the same partner applies its events and says so.
        done = run_partner((*handed, os.getpid(), CODE))
        assert done.returncode == 0, done.stderr
        assert json.loads(outcome.read_text())[0] == "done"
        # A rebuild that runs TRIS from elsewhere is refused: that code may apply the
        # events otherwise, and nothing would tell.
        refused = run_partner((*handed, os.getpid(), "/elsewhere/tris"))
        assert refused.returncode == 1, refused.stderr
        failure = json.loads(outcome.read_text())
        assert failure[0] == "failed"
        assert f"runs TRIS from {CODE}, the rebuild's process from /elsewhere/tris" in failure[-1]
    finally:
        services.close()


def test_a_partner_runs_its_rebuilds_code_not_a_tris_in_the_working_directory(
    partnered_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m` puts the working directory first on the module search path: a partner
    started there would import another TRIS, whose rows may silently differ."""
    decoy = tmp_path / "tris"
    decoy.mkdir()
    (decoy / "__init__.py").write_text('raise ImportError("not the TRIS of the rebuild")\n')
    monkeypatch.chdir(tmp_path)
    runner = partnered_services.projections
    live = runner.digest()
    started: list[int] = []
    spawn = runner._partner
    monkeypatch.setattr(runner, "_partner", lambda *a: started.append(1) or spawn(*a))
    runner.reset()
    runner.rebuild()
    assert started
    assert runner.digest() == live


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_rebuild_leaves_the_planner_statistics_of_what_it_wrote(
    world: World, database_url: str
) -> None:
    """Without them PostgreSQL took a filter that matches most agreements for a rare one and
    read them all for one page (portal list p95 ~90 ms at 100,000 agreements, ~1 ms after)."""
    a, b = world.add("Werkstatt", Sector.CIVIL_SOCIETY), world.add("Amt", Sector.STATE)
    world.services.agreements.propose(a.ctx(), draft(a, b))
    world.services.projections.rebuild()
    with psycopg.connect(database_url, autocommit=True) as conn:
        analysed = dict(
            conn.execute(
                "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
                (["rm_agreements", "rm_agreement_parties", "rm_parties"],),
            ).fetchall()
        )
    # A table never analysed (nor vacuumed) says -1.
    assert analysed == {"rm_agreements": 1, "rm_agreement_parties": 2, "rm_parties": 2}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_rebuild_writes_its_rows_frozen(world: World, database_url: str) -> None:
    """Rows copied into the fresh tables are frozen and all-visible (`COPY … FREEZE`): no
    autovacuum rewrites every page of them afterwards, which was also what a rebuild's
    swap could wait a second for per table (an autovacuum is cancelled only after the
    deadlock timeout)."""
    a, b = world.add("Werkstatt", Sector.CIVIL_SOCIETY), world.add("Amt", Sector.STATE)
    for _ in range(40):
        world.services.agreements.propose(a.ctx(), draft(a, b))
    world.services.projections.rebuild()
    tables = ["rm_agreements", "rm_agreement_parties", "rm_revisions", "rm_parties"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        pages = conn.execute(
            "SELECT relname, relpages, relallvisible FROM pg_class WHERE relname = ANY(%s)",
            (tables,),
        ).fetchall()
    assert sorted(name for name, _, _ in pages) == sorted(tables)
    for name, total, visible in pages:
        assert total > 0, name
        assert visible == total, f"{name}: {visible} of {total} pages all-visible"
