"""Erasing a contact person: the key is destroyed, every record and proof stays valid, and no
database file, table, export or log line holds the person's plaintext — before or after."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.integrity import RawDatabase, Story, full_story
from tests.support.scenario import World
from tests.support.trio import ServicesFactory
from tris.application.opendata.export import write_export
from tris.application.opendata.stream import EventStream
from tris.application.parties import new_contact
from tris.application.store import CommandContext, IdempotencyRequest
from tris.bootstrap import Services
from tris.config import parse_database_url
from tris.domain.errors import PersonNotFoundError
from tris.domain.party import PartyDetails
from tris.domain.values import Sector

NAME = "Quirinus Loeschbar"
EMAIL = "q.loeschbar@erasure-test.example"
PHONE = "+49 30 55501234"
PLAINTEXT = (NAME, "Loeschbar", EMAIL, "erasure-test", PHONE, "55501234")
PUBLIC_NAME = "Stadtteilzentrum Probelauf"
KEPT_NAME = "Bleibt Sichtbar"


@pytest.fixture
def services(open_services: ServicesFactory) -> Services:
    """A snapshot every other event, so that snapshots of the party hold contacts too."""
    return open_services(snapshot_interval=2)


@dataclass(frozen=True)
class Subject:
    """A party with the contact person to be erased, beside an agreement story."""

    party_id: str
    person_id: str
    story: Story


@pytest.fixture
def subject(services: Services, world: World, caplog: pytest.LogCaptureFixture) -> Subject:
    caplog.set_level(logging.DEBUG)
    story = full_story(world)
    contact = new_contact(NAME, EMAIL, PHONE)
    contacts = (contact, new_contact(KEPT_NAME, "bleibt@example.net"))
    admin = world.admin_ctx()
    registering = CommandContext(
        world.admin.actor, idempotency=IdempotencyRequest("register-probelauf", "fp", 201)
    )
    details = PartyDetails(name=PUBLIC_NAME, sector=Sector.CIVIL_SOCIETY, region="Wedding")
    party_id = services.parties.register(registering, details, contacts).body["id"]
    assert services.parties.register(registering, details, contacts).replayed
    services.parties.update_details(admin, party_id, details)
    services.parties.replace_contacts(admin, party_id, contacts)
    services.parties.update_details(admin, party_id, details)
    assert list(services.store.log.app.snapshots.get(UUID(party_id)))  # type: ignore[union-attr]
    return Subject(party_id, contact.person_id, story)


def database_bytes(services: Services) -> bytes:
    """Everything the database holds: the SQLite files, or every row of every PostgreSQL table."""
    backend, parts = parse_database_url(services.settings.database_url)
    if backend == "sqlite":
        base = Path(parts["path"])
        files = [base, *(base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal"))]
        return b"".join(f.read_bytes() for f in files if f.exists())
    raw = RawDatabase(services)
    tables = raw.run(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    assert len(tables) >= 8
    chunks = []
    for (table,) in tables:
        for row in raw.run(f'SELECT * FROM "{table}"'):
            chunks += [_as_bytes(value) for value in row]
    return b"\n".join(chunks)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value)
    return str(value).encode()


def leaks(haystack: bytes) -> list[str]:
    return [secret for secret in PLAINTEXT if secret.encode() in haystack]


def erase(services: Services, world: World, subject: Subject) -> dict[str, Any]:
    return services.parties.erase_personal_data(world.admin_ctx(), subject.person_id).body


def test_the_plaintext_is_never_stored_even_before_an_erasure(
    services: Services, world: World, subject: Subject
) -> None:
    view = services.parties.get(world.admin, subject.party_id)
    assert view["contacts"][0]["name"] == NAME and view["contacts"][0]["phone"] == PHONE
    stored = database_bytes(services)
    assert PUBLIC_NAME.encode() in stored  # the scan sees what the database holds
    assert leaks(stored) == []


def test_after_an_erasure_views_show_the_person_as_erased(
    services: Services, world: World, subject: Subject
) -> None:
    answer = erase(services, world, subject)
    assert answer == {"person_id": subject.person_id, "party_id": subject.party_id, "erased": True}
    for reader in (world.admin,):
        contacts = services.parties.get(reader, subject.party_id)["contacts"]
        assert contacts[0] == {
            "id": subject.person_id,
            "name": None,
            "email": None,
            "phone": None,
            "erased": True,
        }
        assert contacts[1]["name"] == KEPT_NAME and contacts[1]["erased"] is False
    assert services.store.vault.open(subject.person_id, "AAAA") is None
    raw = RawDatabase(services)
    key = raw.run(
        "SELECT secret, erased_at FROM tris_person_keys WHERE person_id=%s", (subject.person_id,)
    )
    assert key[0][0] is None and key[0][1] is not None


def test_after_an_erasure_events_hashes_and_proofs_are_unchanged_and_verify(
    services: Services, world: World, subject: Subject
) -> None:
    raw = RawDatabase(services)
    events_before = raw.events(subject.party_id)
    hashes_before = raw.run("SELECT * FROM tris_event_hashes ORDER BY 1, 2")
    stream_before = EventStream(services.store).page(0, 500).items

    erase(services, world, subject)

    events_after = raw.events(subject.party_id)
    assert events_after[: len(events_before)] == events_before
    assert events_after[-1][1].endswith("Party.PersonalDataErased")
    hashes_after = raw.run("SELECT * FROM tris_event_hashes ORDER BY 1, 2")
    assert set(hashes_before) < set(hashes_after) and len(hashes_after) == len(hashes_before) + 1
    stream_after = EventStream(services.store).page(0, 500).items
    assert stream_after[: len(stream_before)] == stream_before
    assert stream_after[-1]["type"] == "PersonalDataErased"
    assert stream_after[-1]["data"] == {"person_id": subject.person_id}
    services.integrity.issue_checkpoint()
    audit = services.integrity.audit()
    assert audit.ok, audit.findings
    verified = services.integrity.verification(world.admin, subject.story.agreement_id)
    assert verified["ok"]


def test_after_an_erasure_no_database_export_or_log_line_holds_the_plaintext(
    services: Services,
    world: World,
    subject: Subject,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    erase(services, world, subject)
    assert erase(services, world, subject)["erased"] is True  # repeating changes nothing
    services.projections.rebuild()
    export = tmp_path / "after-erasure.ndjson"
    with export.open("w", encoding="utf-8") as handle:
        write_export(EventStream(services.store), handle)
    exported = export.read_bytes()
    assert PUBLIC_NAME.encode() in exported
    assert leaks(exported) == []

    stored = database_bytes(services)
    assert PUBLIC_NAME.encode() in stored
    assert leaks(stored) == []

    logged = "\n".join([caplog.text, *(str(r.args) for r in caplog.records)]).encode()
    assert leaks(logged) == []


def test_erasing_someone_who_is_no_contact_person_is_refused(
    services: Services, world: World, subject: Subject
) -> None:
    with pytest.raises(PersonNotFoundError):
        services.parties.erase_personal_data(world.admin_ctx(), "no-such-person")


def test_after_an_erasure_the_destroyed_key_is_nowhere_in_the_database(
    services: Services, world: World, subject: Subject
) -> None:
    raw = RawDatabase(services)
    rows = raw.run("SELECT secret FROM tris_person_keys WHERE person_id=%s", (subject.person_id,))
    key = str(rows[0][0]).encode()
    assert key in database_bytes(services)
    erase(services, world, subject)
    # Without the key the sealed copies (events, snapshots, exports) can never be opened.
    assert key not in database_bytes(services)
