"""Fixtures of the application-layer tests: services on a fresh database of each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.integrity import Story, full_story, integrity_settings
from tests.support.scenario import World, make_world
from tests.support.trio import TODAY, ServicesFactory, Trio
from tris.bootstrap import Services, build


@pytest.fixture
def open_services(database_url: str, tmp_path: Path) -> Iterator[ServicesFactory]:
    """Builds Services on the test's database (each call is another process); closes them all.

    Projections are applied inline (no worker runs here, and a command must not wait for
    one); a PostgreSQL database gets a server key file, as it must.
    """
    opened: list[Services] = []

    def open_(**overrides: Any) -> Services:
        settings = integrity_settings(database_url, tmp_path, **overrides)
        services = build(settings, today=lambda: TODAY)
        opened.append(services)
        return services

    yield open_
    for services in opened:
        services.close()


@pytest.fixture
def services(open_services: ServicesFactory) -> Services:
    """The services of one process on a fresh database."""
    return open_services()


@pytest.fixture
def world(services: Services) -> World:
    """An operator and no parties yet."""
    return make_world(services)


@pytest.fixture
def story(world: World) -> Story:
    """One agreement proposed, revised, signed, amended and fulfilled (`full_story`), under a
    checkpoint signed afterwards (as the schedule or an admin would)."""
    story = full_story(world)
    world.services.integrity.issue_checkpoint()
    return story


@pytest.fixture
def trio(world: World) -> Trio:
    """A district office, a bakery and a neighbourhood association."""
    return Trio.of(world)
