"""Random commands from two processes at once, each keeping its own aggregates between
commands (ADR 25), on both backends.

Whatever mix the commands made (most succeed, some are refused; each process acts on state
the other may have moved on), both processes then see every agreement alike, and the read
models they kept up together equal a rebuild from the log (`tris projections digest`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.property.agreement_model import pick
from tests.property.command_session import Session, add_parties, play
from tests.support.integrity import integrity_settings
from tests.support.scenario import World, make_world
from tris.bootstrap import Services, build
from tris.domain.values import Sector

TODAY = date(2026, 6, 1)


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    """Two sets of services on one database, each applying the read models itself."""
    opened = [
        build(integrity_settings(database_url, tmp_path, projections="inline"), today=lambda: TODAY)
        for _ in range(2)
    ]
    yield opened[0], opened[1]
    for services in opened:
        services.close()


class TwoProcessSession(Session):
    """A session whose every command runs in one of two processes, drawn at random."""

    def __init__(self, worlds: list[World], data: st.DataObject) -> None:
        super().__init__(worlds[0], data)
        self.worlds = worlds

    def run(self, command: str) -> None:
        """Run the command in a process drawn for it."""
        self.world = pick(self.data.draw, self.worlds)
        super().run(command)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sectors=st.lists(st.sampled_from(Sector), min_size=3, max_size=4),
    steps=st.integers(min_value=5, max_value=30),
    data=st.data(),
)
def test_two_processes_agree_and_their_read_models_equal_a_rebuild(
    processes: tuple[Services, Services],
    sectors: list[Sector],
    steps: int,
    data: st.DataObject,
) -> None:
    here, there = processes
    home = make_world(here)
    add_parties(home, sectors)
    away = World(there, home.admin, home.members)  # the same parties, keys and tokens
    session = TwoProcessSession([home, away], data)
    play(session, steps)
    for agreement_id in session.agreements:
        view = here.agreements.get(home.admin, agreement_id)
        event(f"status {view['status']}")
        assert there.agreements.get(home.admin, agreement_id) == view
    live = here.projections.digest()
    assert there.projections.digest() == live
    here.projections.rebuild()
    assert here.projections.digest() == live
