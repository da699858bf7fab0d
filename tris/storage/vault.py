"""Personal data, encrypted per data subject so that erasing a person destroys one key.

Contact persons never reach the database in plaintext: the `Contact` transcoding seals
name, email and phone with AES-GCM under a key of that person alone (table
`tris_person_keys`). Events, snapshots and exports hold only the sealed form. Erasure
destroys the key: the sealed bytes stay where they are — so every hash, chain and proof
stays valid — but nothing can open them any more, and views show the person as erased.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Transcoding
from eventsourcing.sqlite import SQLiteDatastore

from tris.domain.party import Contact
from tris.storage.database import Database
from tris.storage.errors import PersonalDataErasedError
from tris.storage.schema import serialise_schema_changes

PERSON_KEYS_TABLE = """CREATE TABLE IF NOT EXISTS tris_person_keys (
    person_id TEXT PRIMARY KEY,
    party_id TEXT,
    secret TEXT,
    created_at TEXT NOT NULL,
    erased_at TEXT)"""

_NONCE_BYTES = 12


class PersonalDataVault:
    """Keeps one AES-256-GCM key per data subject and seals or opens their data."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as cur:
            serialise_schema_changes(cur, database.backend)
            cur.execute(PERSON_KEYS_TABLE)

    def _key(self, person_id: str, *, create: bool) -> bytes | None:
        with self.database.read() as cur:
            cur.execute(
                "SELECT secret, erased_at FROM tris_person_keys WHERE person_id=%s", (person_id,)
            )
            row = cur.fetchone()
        if row is not None:
            return None if row[1] is not None or row[0] is None else base64.b64decode(row[0])
        if not create:
            return None
        with self.database.transaction() as cur:
            cur.execute(
                "INSERT INTO tris_person_keys (person_id, secret, created_at) "
                "VALUES (%s, %s, CURRENT_TIMESTAMP) ON CONFLICT (person_id) DO NOTHING",
                (person_id, base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()),
            )
        return self._key(person_id, create=False)

    def seal(self, person_id: str, data: dict[str, Any]) -> str:
        """Encrypt a person's data under their own key (created on first use)."""
        key = self._key(person_id, create=True)
        if key is None:
            raise PersonalDataErasedError(f"person {person_id} was erased; no new data is kept")
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
        sealed = AESGCM(key).encrypt(nonce, plaintext, person_id.encode("utf-8"))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, person_id: str, sealed: str) -> dict[str, Any] | None:
        """Decrypt a person's data, or None when their key was destroyed."""
        key = self._key(person_id, create=False)
        if key is None:
            return None
        raw = base64.b64decode(sealed)
        try:
            plaintext = AESGCM(key).decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], person_id.encode("utf-8")
            )
        except InvalidTag:
            return None
        data: dict[str, Any] = json.loads(plaintext)
        return data

    def bind(self, person_id: str, party_id: str) -> None:
        """Note which party a person belongs to (for erasure requests by person id)."""
        with self.database.transaction() as cur:
            cur.execute(
                "UPDATE tris_person_keys SET party_id=%s WHERE person_id=%s AND party_id IS NULL",
                (party_id, person_id),
            )

    def party_of(self, person_id: str) -> str | None:
        """The party a person is a contact of, if known."""
        with self.database.read() as cur:
            cur.execute("SELECT party_id FROM tris_person_keys WHERE person_id=%s", (person_id,))
            row = cur.fetchone()
        return None if row is None else row[0]

    def erase(self, person_id: str) -> bool:
        """Destroy a person's key; return False if there was no live key."""
        with self.database.transaction() as cur:
            if self.database.backend == "sqlite":
                # Overwrite freed pages too, so the old key is not left in the file.
                cur.execute("PRAGMA secure_delete = ON")
            cur.execute(
                "UPDATE tris_person_keys SET secret=NULL, erased_at=CURRENT_TIMESTAMP "
                "WHERE person_id=%s AND erased_at IS NULL",
                (person_id,),
            )
            erased = bool(cur.rowcount)
        if erased:
            self._drop_old_page_images()
        return erased

    def _drop_old_page_images(self) -> None:
        # SQLite's write-ahead log still holds the page as it was before the update, key
        # included: copy the log into the file (where secure_delete cleared it) and empty it.
        datastore = getattr(self.database.recorder, "datastore", None)
        if isinstance(datastore, SQLiteDatastore):
            with datastore.get_connection(commit=True) as conn:
                conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")


class SealedContact(Transcoding):
    """Stores a Contact as its person id and the sealed personal data, never in plaintext."""

    type = Contact
    name = "contact_sealed"

    def __init__(self) -> None:
        self.vault: PersonalDataVault | None = None

    def _vault(self) -> PersonalDataVault:
        if self.vault is None:
            raise RuntimeError("the personal-data vault is not bound to the transcoder")
        return self.vault

    def encode(self, obj: Contact) -> dict[str, Any]:
        """Seal name, email and phone under the person's key."""
        if obj.erased:
            return {"person_id": obj.person_id, "sealed": None}
        data = {"name": obj.name, "email": obj.email, "phone": obj.phone}
        return {"person_id": obj.person_id, "sealed": self._vault().seal(obj.person_id, data)}

    def decode(self, data: dict[str, Any]) -> Contact:
        """Open the sealed data, or show the person as erased."""
        person_id = data["person_id"]
        opened = None if data["sealed"] is None else self._vault().open(person_id, data["sealed"])
        if opened is None:
            return Contact.erased_person(person_id)
        return Contact(
            person_id=person_id, name=opened["name"], email=opened["email"], phone=opened["phone"]
        )
