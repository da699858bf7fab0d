"""Helpers of the integrity tests: settings with a server key, a full agreement, raw SQL access."""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from tests.support.scenario import World, draft
from tris.application.integrity.keys import write_new_key
from tris.bootstrap import Services
from tris.config import Settings, load_settings, parse_database_url
from tris.domain.proofs.chain import event_hash
from tris.domain.proofs.merkle import leaf_hash
from tris.domain.values import Sector


def integrity_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test database: SQLite keeps its default key file, PostgreSQL gets one."""
    backend, _ = parse_database_url(database_url)
    if backend == "postgres" and "server_key_file" not in overrides:
        key = tmp_path / "server.key"
        if not key.exists():
            write_new_key(key)
        overrides["server_key_file"] = str(key)
    overrides.setdefault("projections", "inline")
    overrides.setdefault("checkpoint_interval_seconds", 0)
    return load_settings(database_url=database_url, **overrides)


@dataclass
class Story:
    """An agreement taken through revision, signatures, an amendment and a fulfilment."""

    agreement_id: str
    parties: list[str]


def full_story(world: World) -> Story:
    """Propose, revise, sign, amend, sign again, record and confirm a delivery."""
    senate = world.add("Bezirksamt Mitte", Sector.STATE)
    firm = world.add("Kiezbäckerei GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftsverein Moabit e.V.", Sector.CIVIL_SOCIETY)
    agreements = world.services.agreements
    agreement_id = agreements.propose(senate.ctx(), draft(firm, assoc, senate)).body["id"]
    agreements.revise(
        firm.ctx(), agreement_id, draft(firm, assoc, senate, quantity="12"), "Zwölf Stunden"
    )
    for member in (senate, firm, assoc):
        world.sign(member, agreement_id, 2)
    agreements.propose_amendment(
        assoc.ctx(), agreement_id, draft(firm, assoc, senate, quantity="14"), "Mehr Stunden"
    )
    for member in (senate, firm, assoc):
        world.sign(member, agreement_id, 3)
    view = agreements.get(world.admin, agreement_id)
    commitment = view["content"]["commitments"][0]["id"]
    recorded = agreements.record_fulfilment(
        firm.ctx(), agreement_id, commitment, "4", date(2026, 5, 1), "Vier Stunden gekocht"
    ).body
    agreements.confirm_fulfilment(assoc.ctx(), agreement_id, recorded["id"])
    return Story(agreement_id, [senate.party_id, firm.party_id, assoc.party_id])


class RawDatabase:
    """Direct SQL on the database behind TRIS's back, as an intruder with access would do it."""

    def __init__(self, services: Services) -> None:
        self.backend, self.parts = parse_database_url(services.settings.database_url)
        self.url = services.settings.database_url
        self.table = services.store.log.app.recorder.events_table_name
        self.position = "rowid" if self.backend == "sqlite" else "position"

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (with %s placeholders) and commit; return its rows."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.parts["path"]) as conn:
                cur = conn.execute(statement.replace("%s", "?"), params)
                return [tuple(r) for r in cur.fetchall()]
        with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql")) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
            conn.commit()
            return rows

    def key(self, aggregate_id: str) -> str:
        """The aggregate id as the events table stores it."""
        return UUID(aggregate_id).hex if self.backend == "sqlite" else aggregate_id

    def events(self, aggregate_id: str) -> list[tuple[int, str, bytes, int]]:
        """(version, topic, state, position) of an aggregate's stored events."""
        rows = self.run(
            f"SELECT originator_version, topic, state, {self.position} FROM {self.table} "
            "WHERE originator_id=%s ORDER BY originator_version",
            (self.key(aggregate_id),),
        )
        return [(int(v), str(t), bytes(s), int(p)) for v, t, s, p in rows]

    def version_of_type(self, aggregate_id: str, event_type: str) -> int:
        """The first version of an aggregate whose topic ends with `event_type`."""
        return next(v for v, t, _, _ in self.events(aggregate_id) if t.endswith("." + event_type))

    def position_of(self, aggregate_id: str, version: int) -> int:
        """The global position of one event."""
        return next(p for v, _, _, p in self.events(aggregate_id) if v == version)

    def replace_in_state(self, aggregate_id: str, version: int, old: str, new: str) -> None:
        """Change some text inside one stored event."""
        state = next(s for v, _, s, _ in self.events(aggregate_id) if v == version)
        assert old.encode() in state
        self.run(
            f"UPDATE {self.table} SET state=%s WHERE originator_id=%s AND originator_version=%s",
            (state.replace(old.encode(), new.encode()), self.key(aggregate_id), version),
        )

    def delete_event(self, aggregate_id: str, version: int) -> None:
        """Delete one stored event."""
        self.run(
            f"DELETE FROM {self.table} WHERE originator_id=%s AND originator_version=%s",
            (self.key(aggregate_id), version),
        )

    def insert_copy(self, aggregate_id: str, version: int) -> int:
        """Insert a copy of one event as the aggregate's next version, at the next position."""
        new_version = max(v for v, _, _, _ in self.events(aggregate_id)) + 1
        table, column = self.table, self.position
        self.run(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state, {column}) "
            f"SELECT originator_id, %s, topic, state, (SELECT MAX({column}) FROM {table}) + 1 "
            f"FROM {table} WHERE originator_id=%s AND originator_version=%s",
            (new_version, self.key(aggregate_id), version),
        )
        return new_version

    def swap_positions(self, first: int, second: int) -> None:
        """Exchange the global positions of two events."""
        column = self.position
        for old, new in ((first, -1), (second, first), (-1, second)):
            self.run(f"UPDATE {self.table} SET {column}=%s WHERE {column}=%s", (new, old))

    def rewrite_chain(self, aggregate_id: str, change: Callable[[int, bytes], bytes]) -> None:
        """Change events and recompute the aggregate's whole chain and its leaves to match."""
        prev = ""
        for version, topic, state, _ in self.events(aggregate_id):
            new_state = change(version, state)
            if new_state != state:
                self.run(
                    f"UPDATE {self.table} SET state=%s "
                    "WHERE originator_id=%s AND originator_version=%s",
                    (new_state, self.key(aggregate_id), version),
                )
            digest = event_hash(aggregate_id, version, topic, new_state, prev)
            self.run(
                "UPDATE tris_event_hashes SET hash=%s, prev_hash=%s "
                "WHERE originator_id=%s AND originator_version=%s",
                (digest, prev, aggregate_id, version),
            )
            self.run(
                "UPDATE tris_merkle_leaves SET leaf_hash=%s "
                "WHERE originator_id=%s AND originator_version=%s",
                (leaf_hash(bytes.fromhex(digest)).hex(), aggregate_id, version),
            )
            prev = digest


@functools.cache
def _session_key_file() -> str:
    path = Path(tempfile.mkdtemp(prefix="tris-test-key-")) / "server.key"
    write_new_key(path)
    return str(path)


def with_server_key(database_url: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Settings overrides with a server key file for PostgreSQL, which requires one."""
    backend, _ = parse_database_url(database_url)
    if backend == "postgres":
        settings.setdefault("server_key_file", _session_key_file())
    return settings
