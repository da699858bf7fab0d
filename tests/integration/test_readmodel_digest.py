"""The read-model digest covers everything a user can observe: every column that reaches an
answer, and the order of every list. Change one value, or the order, and it changes."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from tests.support.integrity import RawDatabase, Story
from tests.support.market import market_story
from tests.support.networks import network_story
from tests.support.scenario import World, draft
from tris.bootstrap import Services
from tris.domain.values import Sector

# The key of each read-model table, to change one row at a time.
KEYS = {
    "rm_agreements": ("agreement_id",),
    "rm_agreement_parties": ("agreement_id", "party_id"),
    "rm_published": ("agreement_id",),
    "rm_commitments": ("agreement_id", "commitment_id"),
    "rm_fulfilments": ("agreement_id", "fulfilment_id"),
    "rm_commitment_totals": ("kind", "unit", "month"),
    "rm_parties": ("party_id",),
    "rm_revisions": ("agreement_id", "number"),
    "rm_markets": ("market_id",),
    "rm_market_postings": ("posting_id",),
    "rm_market_deals": ("agreement_id",),
    "rm_memberships": ("membership_id",),
    "rm_membership_history": ("membership_id", "version"),
    "rm_membership_ends": ("membership_id",),
}
INTEGERS = {"version", "revision", "in_force_revision", "number"}
QUERY = re.compile(r"SELECT (?P<columns>.+?) FROM (?P<table>\w+) ORDER BY", re.DOTALL)


@pytest.fixture
def story(world: World, story: Story) -> Story:
    """The integration story, a market with a deal, a network of networks and a published
    agreement beside it (every table has rows)."""
    market_story(world)
    network_story(world)
    first, second = (
        world.add("Offene Werkstatt", Sector.CIVIL_SOCIETY),
        world.add("Stadtbibliothek", Sector.STATE),
    )
    published = replace(draft(first, second, title="Offen"), publication="public")
    agreement_id = world.services.agreements.propose(first.ctx(), published).body["id"]
    world.sign(first, agreement_id, 1)
    world.sign(second, agreement_id, 1)
    return story


def covered(services: Services) -> list[tuple[str, str]]:
    """(table, column) of every column the digest reads."""
    pairs = []
    for projection in services.projections.projections:
        for query in projection.digest_queries:
            found = QUERY.match(query)
            assert found, query
            for column in found["columns"].split(","):
                pairs.append((found["table"], column.strip()))
    return pairs


def changed(column: str, value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        flags = {"is_current", "active", "fulfilled", "started", "concluded", "notarised"}
        return 1 - value if column in flags else value + 1000
    if value is None:
        return 1 if column in INTEGERS else "2026-01"
    return value + "x"


def test_the_digest_reads_every_read_model_table(services: Services, story: Story) -> None:
    tables = {table for table, _ in covered(services)}
    raw = RawDatabase(services)
    if raw.backend == "sqlite":
        names = raw.run("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'rm_%'")
    else:
        names = raw.run(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name LIKE 'rm%%'"
        )
    # The FTS index on SQLite is derived from `search_text` (in the digest) by triggers.
    present = {n for (n,) in names if not n.startswith("rm_agreements_search")}
    assert present == tables == set(KEYS)


def test_a_change_in_any_covered_column_or_in_a_lists_order_changes_the_digest(
    services: Services, story: Story
) -> None:
    raw = RawDatabase(services)
    for table, column in covered(services):
        keys = KEYS[table]
        rows = raw.run(f"SELECT {', '.join(keys)}, {column} FROM {table}")
        assert rows, table
        row = next((r for r in rows if r[-1] is not None), rows[0])
        where = " AND ".join(f"{k}=%s" for k in keys)
        before = services.projections.digest()
        new = changed(column, row[-1])
        raw.run(f"UPDATE {table} SET {column}=%s WHERE {where}", (new, *row[:-1]))
        assert services.projections.digest() != before, (table, column)
        now = tuple(
            new if key == column else value for key, value in zip(keys, row[:-1], strict=True)
        )
        raw.run(f"UPDATE {table} SET {column}=%s WHERE {where}", (row[-1], *now))
        assert services.projections.digest() == before, (table, column)

    # The order of a list: two parties swap their places (their `seq`), nothing else.
    first, second = raw.run("SELECT party_id, seq FROM rm_parties ORDER BY seq")[:2]
    before = services.projections.digest()
    raw.run("UPDATE rm_parties SET seq=%s WHERE party_id=%s", (-1, first[0]))
    raw.run("UPDATE rm_parties SET seq=%s WHERE party_id=%s", (first[1], second[0]))
    raw.run("UPDATE rm_parties SET seq=%s WHERE party_id=%s", (second[1], first[0]))
    assert services.projections.digest() != before
