"""Personal data, encrypted per data subject so that erasing a person destroys one key.

Contact persons never reach the database in plaintext, and their sealed data never enters
an event: the `Contact` transcoding seals name, email and phone with AES-256-GCM under a
key of that person alone and keeps the sealed bytes in `tris_person_data`, under the
SHA-256 of those bytes; the event (and its snapshots) hold only the person id and that
digest. So events, exports and streams carry no personal data, not even sealed, while
every hash still covers it (the digest commits to the sealed bytes).

Each person's key is kept in `tris_person_keys` wrapped (AES-256-GCM) by a key derived
from the server key, which lives outside the database: a copy of the database alone opens
nothing. Erasure destroys the person's key and deletes their sealed data; every hash,
chain and proof stays valid, and views show the person as erased (ADR 0019).

Events recorded before this layout carry their sealed data inline. `migrate` moves each
such person under a new key: their data is sealed again under it and kept under the digest
of the old inline bytes, and the old key is destroyed, so the inline copies (in events,
snapshots and exports) can never be opened again while views still show the data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Transcoding
from eventsourcing.sqlite import SQLiteDatastore

from tris.domain.party import Contact
from tris.storage.cursors import Cursor
from tris.storage.database import Database
from tris.storage.errors import PersonalDataErasedError, PersonalDataKeyError
from tris.storage.schema import serialise_schema_changes

PERSON_KEYS_TABLE = """CREATE TABLE IF NOT EXISTS tris_person_keys (
    person_id TEXT PRIMARY KEY,
    party_id TEXT,
    secret TEXT,
    created_at TEXT NOT NULL,
    erased_at TEXT)"""

PERSON_DATA_TABLE = """CREATE TABLE IF NOT EXISTS tris_person_data (
    digest TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    sealed TEXT NOT NULL)"""

PERSON_DATA_INDEX = (
    "CREATE INDEX IF NOT EXISTS tris_person_data_person ON tris_person_data (person_id)"
)

_NONCE_BYTES = 12
# A wrapped key is "w1:" and base64 of nonce + AES-GCM(wrapping key, person key); a key
# written before wrapping is the bare base64 of the person key.
_WRAPPED = "w1:"

WrappingKey = Callable[[], bytes]

# What the wrapping key is derived for (HKDF info), from the server key.
WRAPPING_PURPOSE = b"tris person keys v1"


def sealed_digest(sealed: str) -> str:
    """The name sealed data is kept under: the SHA-256 of its base64 text, in hex."""
    return hashlib.sha256(sealed.encode("ascii")).hexdigest()


class PersonalDataVault:
    """Keeps one AES-256-GCM key per data subject and seals, keeps or opens their data."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._wrapping_key: WrappingKey | None = None
        with database.transaction() as cur:
            serialise_schema_changes(cur, database.backend)
            cur.execute(PERSON_KEYS_TABLE)
            cur.execute(PERSON_DATA_TABLE)
            cur.execute(PERSON_DATA_INDEX)

    def wrap_with(self, wrapping_key: WrappingKey) -> None:
        """Use this key (kept outside the database) to wrap every person's key."""
        self._wrapping_key = wrapping_key

    def _kek(self) -> AESGCM:
        if self._wrapping_key is None:
            raise PersonalDataKeyError(
                "no key to wrap personal-data keys with: the server key is not configured"
            )
        return AESGCM(self._wrapping_key())

    def _wrap(self, person_id: str, key: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = self._kek().encrypt(nonce, key, _aad("tris-person-key", person_id))
        return _WRAPPED + base64.b64encode(nonce + wrapped).decode("ascii")

    def _unwrap(self, person_id: str, secret: str) -> bytes:
        if not secret.startswith(_WRAPPED):
            return base64.b64decode(secret)  # written before wrapping; `migrate` wraps it
        raw = base64.b64decode(secret[len(_WRAPPED) :])
        try:
            return self._kek().decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad("tris-person-key", person_id)
            )
        except InvalidTag:
            raise PersonalDataKeyError(
                f"the key of person {person_id} does not unwrap with this server key: "
                "was the server key file replaced?"
            ) from None

    def _key(self, person_id: str, *, create: bool) -> bytes | None:
        with self.database.read() as cur:
            cur.execute(
                "SELECT secret, erased_at FROM tris_person_keys WHERE person_id=%s", (person_id,)
            )
            row = cur.fetchone()
        if row is not None:
            if row[1] is not None or row[0] is None:
                return None
            return self._unwrap(person_id, row[0])
        if not create:
            return None
        with self.database.transaction() as cur:
            cur.execute(
                "INSERT INTO tris_person_keys (person_id, secret, created_at) "
                "VALUES (%s, %s, CURRENT_TIMESTAMP) ON CONFLICT (person_id) DO NOTHING",
                (person_id, self._wrap(person_id, AESGCM.generate_key(bit_length=256))),
            )
        return self._key(person_id, create=False)

    def seal(self, person_id: str, data: dict[str, Any]) -> str:
        """Encrypt a person's data under their own key (created on first use)."""
        key = self._key(person_id, create=True)
        if key is None:
            raise PersonalDataErasedError(f"person {person_id} was erased; no new data is kept")
        return _seal(key, person_id, data)

    def keep(self, person_id: str, data: dict[str, Any]) -> str:
        """Seal a person's data, keep it, and return the digest it is kept under."""
        sealed = self.seal(person_id, data)
        digest = sealed_digest(sealed)
        with self.database.transaction() as cur:
            cur.execute(
                "INSERT INTO tris_person_data (digest, person_id, sealed) VALUES (%s, %s, %s) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, person_id, sealed),
            )
        return digest

    def open(self, person_id: str, sealed: str) -> dict[str, Any] | None:
        """Decrypt sealed data of a person, or None when their key was destroyed.

        Inline data written before keys were moved is found under its digest, sealed
        again under the person's current key.
        """
        moved = self.opened(person_id, sealed_digest(sealed))
        if moved is not None:
            return moved
        key = self._key(person_id, create=False)
        return None if key is None else _open(key, person_id, sealed)

    def opened(self, person_id: str, digest: str) -> dict[str, Any] | None:
        """The data kept under this digest, opened; None when erased or not kept here."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT d.sealed, k.secret, k.erased_at FROM tris_person_data d "
                "JOIN tris_person_keys k ON k.person_id = d.person_id "
                "WHERE d.digest=%s AND d.person_id=%s",
                (digest, person_id),
            )
            row = cur.fetchone()
        if row is None or row[1] is None or row[2] is not None:
            return None
        return _open(self._unwrap(person_id, row[1]), person_id, row[0])

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

    def erase(self, person_id: str, forget: Callable[[Cursor], None] | None = None) -> bool:
        """Destroy a person's key and delete their sealed data; return False if there was
        no live key. `forget` runs in the same transaction (to drop what else could tell
        of the person)."""
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
            cur.execute("DELETE FROM tris_person_data WHERE person_id=%s", (person_id,))
            if forget is not None:
                forget(cur)
        if erased:
            self._drop_old_page_images()
        return erased

    def unwrapped_persons(self) -> list[str]:
        """The persons whose key was written before keys were wrapped."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT person_id FROM tris_person_keys WHERE secret IS NOT NULL "
                "AND secret NOT LIKE %s ORDER BY person_id",
                (_WRAPPED + "%",),
            )
            return [str(row[0]) for row in cur.fetchall()]

    def migrate(self, inline: Callable[[], Iterable[tuple[str, str]]]) -> int:
        """Move every person whose key was written before wrapping under a new, wrapped
        key; `inline` yields (person_id, sealed) of the inline data events and snapshots
        hold. Return how many persons were moved (0 once done: a cheap check at start)."""
        persons = set(self.unwrapped_persons())
        if not persons:
            return 0
        found: dict[str, set[str]] = {}
        for person_id, sealed in inline():
            if person_id in persons:
                found.setdefault(person_id, set()).add(sealed)
        for person_id in sorted(persons):
            self._move(person_id, found.get(person_id, set()))
        self._drop_old_page_images()
        return len(persons)

    def _drop_old_page_images(self) -> None:
        # SQLite's write-ahead log still holds the page as it was before the update, key
        # included: copy the log into the file (where secure_delete cleared it) and empty it.
        datastore = getattr(self.database.recorder, "datastore", None)
        if isinstance(datastore, SQLiteDatastore):
            with datastore.get_connection(commit=True) as conn:
                conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _move(self, person_id: str, inline: set[str]) -> None:
        with self.database.transaction() as cur:
            if self.database.backend == "sqlite":
                cur.execute("PRAGMA secure_delete = ON")
            cur.execute(
                "SELECT secret FROM tris_person_keys WHERE person_id=%s AND erased_at IS NULL",
                (person_id,),
            )
            row = cur.fetchone()
            if row is None or row[0] is None or str(row[0]).startswith(_WRAPPED):
                return  # erased, or moved by another process meanwhile
            old = base64.b64decode(row[0])
            new = AESGCM.generate_key(bit_length=256)
            for sealed in sorted(inline):
                data = _open(old, person_id, sealed)
                if data is None:
                    continue
                cur.execute(
                    "INSERT INTO tris_person_data (digest, person_id, sealed) "
                    "VALUES (%s, %s, %s) ON CONFLICT (digest) DO NOTHING",
                    (sealed_digest(sealed), person_id, _seal(new, person_id, data)),
                )
            cur.execute(
                "UPDATE tris_person_keys SET secret=%s WHERE person_id=%s",
                (self._wrap(person_id, new), person_id),
            )


def _aad(purpose: str, person_id: str) -> bytes:
    return f"{purpose}:{person_id}".encode()


def _seal(key: bytes, person_id: str, data: dict[str, Any]) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plaintext, person_id.encode("utf-8"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def _open(key: bytes, person_id: str, sealed: str) -> dict[str, Any] | None:
    try:
        raw = base64.b64decode(sealed)
        plaintext = AESGCM(key).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], person_id.encode("utf-8")
        )
    except (InvalidTag, ValueError):
        return None
    data: dict[str, Any] = json.loads(plaintext)
    return data


def inline_contacts(state: bytes) -> Iterable[tuple[str, str]]:
    """(person_id, sealed) of every contact an event or snapshot holds inline."""
    if b'"sealed"' not in state:
        return []
    found: list[tuple[str, str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            data = value.get("_data_")
            if value.get("_type_") == SealedContact.name and isinstance(data, dict):
                person_id, sealed = data.get("person_id"), data.get("sealed")
                if isinstance(person_id, str) and isinstance(sealed, str):
                    found.append((person_id, sealed))
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    try:
        walk(json.loads(state))
    except ValueError:
        return []
    return found


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
        """Seal name, email and phone under the person's key and keep them apart: the event
        holds the person id and the digest of the sealed data."""
        if obj.erased:
            return {"person_id": obj.person_id, "sealed": None}
        data = {"name": obj.name, "email": obj.email, "phone": obj.phone}
        return {
            "person_id": obj.person_id,
            "sealed_sha256": self._vault().keep(obj.person_id, data),
        }

    def decode(self, data: dict[str, Any]) -> Contact:
        """Open the sealed data, or show the person as erased."""
        person_id = data["person_id"]
        vault = self._vault()
        if "sealed_sha256" in data:
            opened = vault.opened(person_id, data["sealed_sha256"])
        else:  # inline, as recorded before sealed data was kept apart
            opened = None if data["sealed"] is None else vault.open(person_id, data["sealed"])
        if opened is None:
            return Contact.erased_person(person_id)
        return Contact(
            person_id=person_id, name=opened["name"], email=opened["email"], phone=opened["phone"]
        )
