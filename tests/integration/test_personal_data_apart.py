"""Personal data that really goes: person keys wrapped by a key outside the database, sealed
data kept apart from every event, Idempotency-Key fingerprints keyed and bounded in time."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.integrity import RawDatabase
from tests.support.scenario import World
from tests.support.trio import ServicesFactory
from tris.application.access import Role
from tris.application.integrity.keys import write_new_key
from tris.application.opendata.export import write_export
from tris.application.opendata.stream import EventStream
from tris.application.parties import new_contact
from tris.application.store import CommandContext, IdempotencyRequest
from tris.bootstrap import Services
from tris.domain.errors import TrisError
from tris.domain.party import Contact, PartyDetails
from tris.domain.values import Sector
from tris.storage import vault as vault_module
from tris.storage.errors import PersonalDataKeyError
from tris.storage.vault import PersonalDataVault, SealedContact

NAME, EMAIL = "Henriette Abseits", "h.abseits@apart.example"
DETAILS = PartyDetails(name="Nachbarschaftshaus Apart", sector=Sector.CIVIL_SOCIETY)


def register(services: Services, world: World, *contacts: Contact) -> str:
    body = services.parties.register(world.admin_ctx(), DETAILS, contacts).body
    return str(body["id"])


def sealed_rows(services: Services) -> list[tuple[Any, ...]]:
    return RawDatabase(services).run("SELECT digest, person_id, sealed FROM tris_person_data")


def test_no_event_snapshot_or_export_holds_sealed_data_only_its_digest(
    open_services: ServicesFactory, world: World, tmp_path: Path
) -> None:
    services = open_services(snapshot_interval=2)
    contact = new_contact(NAME, EMAIL)
    party_id = register(services, world, contact)
    services.parties.replace_contacts(world.admin_ctx(), party_id, (contact,))
    services.parties.update_details(world.admin_ctx(), party_id, DETAILS)
    assert services.parties.get(world.admin, party_id)["contacts"][0]["name"] == NAME

    rows = sealed_rows(services)
    assert {row[1] for row in rows} == {contact.person_id}
    assert all(row[0] == hashlib.sha256(row[2].encode()).hexdigest() for row in rows)
    raw = RawDatabase(services)
    states = [state for (_, _, state, _) in raw.events(party_id)]
    table = services.store.log.app.snapshots.recorder.events_table_name  # type: ignore[union-attr]
    snapshots = raw.run(f"SELECT state FROM {table}")
    assert snapshots
    export = tmp_path / "export.ndjson"
    with export.open("w", encoding="utf-8") as handle:
        write_export(EventStream(services.store), handle)
    exported = export.read_bytes()
    for sealed in (row[2] for row in rows):
        assert sealed.encode() not in exported
        assert all(sealed.encode() not in state for state in states)
        assert all(sealed.encode() not in bytes(s[0]) for s in snapshots)
    recorded = [json.loads(s) for s in states if b"contact_sealed" in s]
    assert recorded and all(b'"sealed_sha256"' in s for s in states if b"contact_sealed" in s)


def test_a_copy_of_the_database_without_the_server_key_opens_nothing(
    database_url: str, open_services: ServicesFactory, world: World, tmp_path: Path
) -> None:
    services = open_services()
    contact = new_contact(NAME, EMAIL)
    party_id = register(services, world, contact)
    (secret,) = RawDatabase(services).run(
        "SELECT secret FROM tris_person_keys WHERE person_id=%s", (contact.person_id,)
    )[0]
    assert secret.startswith("w1:")  # wrapped, not the bare person key

    other_key = tmp_path / "another.key"
    write_new_key(other_key)
    thief = open_services(server_key_file=str(other_key))
    with pytest.raises(PersonalDataKeyError):
        thief.parties.get(world.admin, party_id)
    # With the server key the same database opens again.
    assert open_services().parties.get(world.admin, party_id)["contacts"][0]["email"] == EMAIL


def test_erasure_deletes_the_sealed_data_and_forgets_what_fingerprints_could_confirm(
    services: Services, world: World
) -> None:
    contact = new_contact(NAME, EMAIL)
    request = IdempotencyRequest("register-apart", "fingerprint-of-the-body", 201)
    ctx = CommandContext(world.admin.actor, idempotency=request)
    party_id = services.parties.register(ctx, DETAILS, (contact,)).body["id"]
    assert services.parties.register(ctx, DETAILS, (contact,)).replayed
    assert sealed_rows(services)

    services.parties.erase_personal_data(world.admin_ctx(), contact.person_id)

    assert sealed_rows(services) == []
    fingerprints = RawDatabase(services).run(
        "SELECT fingerprint FROM tris_idempotency WHERE idem_key=%s", ("register-apart",)
    )
    assert fingerprints == [("forgotten",)]
    # A retry is refused rather than replayed or run again: no new party, nothing confirmed.
    with pytest.raises(TrisError) as refused:
        services.parties.register(ctx, DETAILS, (contact,))
    assert type(refused.value).__name__ == "PersonalDataErasedError"
    with pytest.raises(TrisError) as refused:
        services.parties.register(ctx, DETAILS, (new_contact("Jemand Anderes"),))
    assert type(refused.value).__name__ == "IdempotencyKeyReusedError"
    assert [p["id"] for p in services.parties.list(world.admin)] == [party_id]


def test_idempotency_records_expire(open_services: ServicesFactory, world: World) -> None:
    services = open_services(idempotency_ttl_seconds=60)
    request = IdempotencyRequest("register-once", "fp", 201)
    ctx = CommandContext(world.admin.actor, idempotency=request)
    first = services.parties.register(ctx, DETAILS).body["id"]
    assert services.parties.register(ctx, DETAILS).body["id"] == first
    raw = RawDatabase(services)
    old = "2000-01-01 00:00:00" if raw.backend == "sqlite" else "2000-01-01 00:00:00+00"
    raw.run("UPDATE tris_idempotency SET created_at=%s", (old,))
    # Past its time the key is new again, and an expired record is purged.
    assert services.parties.register(ctx, DETAILS).body["id"] != first
    raw.run("UPDATE tris_idempotency SET created_at=%s", (old,))
    services.store.idempotency._last_purge = 0.0
    assert services.store.idempotency.purge_expired() == 1
    assert raw.run("SELECT count(*) FROM tris_idempotency") == [(0,)]


def test_keys_and_inline_data_from_before_are_moved_under_wrapped_keys(
    open_services: ServicesFactory, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded as before: the person key bare in the table, the sealed data inline."""
    services = open_services(snapshot_interval=2)
    contact = new_contact(NAME, EMAIL)

    def inline_encode(self: SealedContact, obj: Contact) -> dict[str, Any]:
        data = {"name": obj.name, "email": obj.email, "phone": obj.phone}
        return {"person_id": obj.person_id, "sealed": self._vault().seal(obj.person_id, data)}

    with monkeypatch.context() as patch:
        patch.setattr(SealedContact, "encode", inline_encode)
        patch.setattr(
            PersonalDataVault, "_wrap", lambda self, person_id, key: base64.b64encode(key).decode()
        )
        party_id = register(services, world, contact)
        services.parties.update_details(world.admin_ctx(), party_id, DETAILS)
    raw = RawDatabase(services)
    (bare,) = raw.run("SELECT secret FROM tris_person_keys")[0]
    old_key = base64.b64decode(bare)
    inline = [state for (_, _, state, _) in raw.events(party_id) if b'"sealed":"' in state]
    assert len(old_key) == 32 and inline
    assert services.store.vault.unwrapped_persons() == [contact.person_id]

    moved = open_services(snapshot_interval=2)  # the next start moves them

    assert moved.store.vault.unwrapped_persons() == []
    assert moved.parties.get(world.admin, party_id)["contacts"][0]["name"] == NAME
    assert bare.encode() not in b"".join(
        str(v).encode() for row in raw.run("SELECT * FROM tris_person_keys") for v in row
    )
    # The inline copies were sealed under the destroyed key: erasing the person now
    # leaves nothing that opens, and the view says so.
    moved.parties.erase_personal_data(world.admin_ctx(), contact.person_id)
    assert moved.parties.get(world.admin, party_id)["contacts"][0]["erased"] is True
    assert vault_module.sealed_digest("x") == hashlib.sha256(b"x").hexdigest()


def test_an_expired_key_issues_a_new_token_and_a_new_checkpoint(
    open_services: ServicesFactory, world: World
) -> None:
    services = open_services(idempotency_ttl_seconds=60)
    request = IdempotencyRequest("issue-once", "fp", 201)
    admin = world.admin.actor.token_id
    first = services.tokens.issue_once(Role.RESEARCHER, issuer_token_id=admin, idempotency=request)
    again = services.tokens.issue_once(Role.RESEARCHER, issuer_token_id=admin, idempotency=request)
    assert again.token_id == first.token_id
    raw = RawDatabase(services)
    old = "2000-01-01 00:00:00" if raw.backend == "sqlite" else "2000-01-01 00:00:00+00"
    raw.run("UPDATE tris_idempotency SET created_at=%s", (old,))
    later = services.tokens.issue_once(Role.RESEARCHER, issuer_token_id=admin, idempotency=request)
    assert later.token_id != first.token_id

    register(services, world)
    checkpoint = IdempotencyRequest("checkpoint-once", "fp", 201)
    signed = services.integrity.issue_checkpoint_once(admin, checkpoint).body
    register(services, world)
    raw.run("UPDATE tris_idempotency SET created_at=%s", (old,))
    assert services.integrity.issue_checkpoint_once(admin, checkpoint).body != signed
