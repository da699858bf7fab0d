"""The files TRIS creates hold personal data and secrets: only their owner may read them."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.scenario import make_world
from tris.bootstrap import build
from tris.config import load_settings
from tris.domain.values import Sector


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_file_its_journal_and_the_server_key_are_created_0600(tmp_path: Path) -> None:
    database = tmp_path / "tris.db"
    services = build(load_settings(database_url=f"sqlite:///{database}"))
    try:
        services.start_background()  # creates the server key beside the database
        make_world(services).add("Kiezbäckerei GmbH", Sector.BUSINESS)
        created = [p for p in tmp_path.iterdir() if p.is_file()]
        assert database in created
        assert any(p.name.endswith(".server-key") for p in created)
        assert {p.name: mode(p) for p in created} == {p.name: 0o600 for p in created}
    finally:
        services.close()
