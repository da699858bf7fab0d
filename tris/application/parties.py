"""Use cases for parties: register, update, contacts, signing keys, deactivation."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from tris.application.access import Principal, Role
from tris.application.readmodels.queries.paging import CursorCodec
from tris.application.store import CommandContext, EventStore, Outcome
from tris.application.views import party_view
from tris.domain.errors import (
    PartyNotFoundError,
    PermissionDeniedError,
    PersonNotFoundError,
    SigningKeyTakenError,
)
from tris.domain.party import Contact, Party, PartyDetails
from tris.domain.values import OPERATOR
from tris.storage.idempotency import IdempotencyRecords

PartyPage = tuple[list[dict[str, Any]], str | None]


def new_contact(name: str, email: str | None = None, phone: str | None = None) -> Contact:
    """A contact person with a fresh person id (the data subject of erasure requests)."""
    return Contact(person_id=uuid.uuid4().hex, name=name, email=email, phone=phone)


class Parties:
    """Registering and maintaining parties."""

    def __init__(self, store: EventStore, cursors: CursorCodec | None = None) -> None:
        self.store = store
        self.cursors = cursors or CursorCodec()

    def register(
        self, ctx: CommandContext, details: PartyDetails, contacts: tuple[Contact, ...] = ()
    ) -> Outcome:
        """Register a party (operators only); the body is the party view with its `id`."""
        _require_operator(ctx)

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = Party.register(
                party_id=uuid.uuid4(), actor=ctx.actor, details=details, contacts=contacts
            )
            return [party], party_view(party, with_contacts=True)

        outcome = self.store.execute(
            ctx, command, status=201, kept=_id_only, replayed=self._rerender
        )
        for contact in contacts:
            self.store.vault.bind(contact.person_id, outcome.body["id"])
        return outcome

    def erase_personal_data(self, ctx: CommandContext, person_id: str) -> Outcome:
        """Destroy a contact person's key (operators only) and record the erasure."""
        _require_operator(ctx)
        party_id = self.store.vault.party_of(person_id)
        if party_id is None:
            raise PersonNotFoundError(f"no contact person {person_id}")
        # The key goes first: if anything fails after this, the data is gone all the same.
        # With it go the person's sealed data and whatever an Idempotency-Key record of a
        # request about the party could confirm of it (a fingerprint of the body).
        self.store.vault.erase(
            person_id,
            lambda cur: IdempotencyRecords.forget_answers(cur, _id_only({"id": party_id})),
        )

        # A party this process kept for its commands holds the person's data as decoded
        # before the key went: it is read afresh (and what other processes keep is stale
        # now, so their next command on it reads it afresh too).
        self.store.cache.forget(UUID(party_id))

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self.store.party(party_id)
            if person_id not in party.erased_persons:
                party.record_erasure(ctx.actor, person_id)
            return [party], {"person_id": person_id, "party_id": party_id, "erased": True}

        return self.store.execute(ctx, command)

    def _rerender(self, stored: dict[str, Any]) -> dict[str, Any]:
        return party_view(self.store.party(stored["id"]), with_contacts=True)

    def update_details(self, ctx: CommandContext, party_id: str, details: PartyDetails) -> Outcome:
        """Replace a party's public details (the party itself or an operator)."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id)
            party.update_details(ctx.actor, details)
            return [party], party_view(party, with_contacts=True)

        return self.store.execute(ctx, command, kept=_id_only, replayed=self._rerender)

    def replace_contacts(
        self, ctx: CommandContext, party_id: str, contacts: tuple[Contact, ...]
    ) -> Outcome:
        """Replace a party's contact persons."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id)
            party.replace_contacts(ctx.actor, contacts)
            return [party], party_view(party, with_contacts=True)

        return self.store.execute(ctx, command, kept=_id_only, replayed=self._rerender)

    def register_signing_key(
        self, ctx: CommandContext, party_id: str, public_key: str, proof: str
    ) -> Outcome:
        """Register a base64 Ed25519 public key with its proof of possession; the body
        carries its `key_id`. A key another party registered is refused (409)."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id, operator_may=False)
            # The proof is checked first (422), then who holds the key (409); the party,
            # changed in memory only, is not saved when the key is taken.
            key_id = party.register_signing_key(ctx.actor, public_key, proof)
            owner = self.store.key_owners.owner(party.keys[key_id].public_key)
            if owner is not None and owner != party.party_id:
                raise SigningKeyTakenError(
                    "this public key is registered by another party; a key speaks for one "
                    "party only: generate a new one"
                )
            return [party], {"key_id": key_id, "party_id": party.party_id, "revoked": False}

        return self.store.execute(ctx, command, status=201)

    def revoke_signing_key(self, ctx: CommandContext, party_id: str, key_id: str) -> Outcome:
        """Revoke a signing key of the party."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id, operator_may=False)
            party.revoke_signing_key(ctx.actor, key_id)
            return [party], {"key_id": key_id, "party_id": party.party_id, "revoked": True}

        return self.store.execute(ctx, command)

    def deactivate(self, ctx: CommandContext, party_id: str, reason: str) -> Outcome:
        """Deactivate a party (operators only)."""
        _require_operator(ctx)

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self.store.party(party_id)
            party.deactivate(ctx.actor, reason)
            return [party], party_view(party, with_contacts=True)

        return self.store.execute(ctx, command, kept=_id_only, replayed=self._rerender)

    def get(self, viewer: Principal, party_id: str) -> dict[str, Any]:
        """One party as the viewer may see it."""
        party = self.store.party(party_id)
        own = viewer.role is Role.PARTNER and viewer.party_id == party.party_id
        return party_view(party, with_contacts=viewer.sees_personal_data or own)

    def list(self, viewer: Principal) -> list[dict[str, Any]]:
        """Every registered party, in registration order (all pages of `page`)."""
        views: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            items, cursor = self.page(viewer, 500, cursor)
            views += items
            if cursor is None:
                return views

    def page(self, viewer: Principal, limit: int, cursor: str | None = None) -> PartyPage:
        """Up to `limit` parties in registration order after `cursor`, and the next cursor."""
        start = None
        if cursor is not None:
            (start,) = self.cursors.decode(cursor, int)
        topic = f"{Party.__module__}:{Party.Registered.__qualname__}"
        notifications = self.store.log.notifications(start, limit + 1, topics=[topic])
        shown = notifications[:limit]
        views = [self.get(viewer, str(n.originator_id)) for n in shown]
        more = len(notifications) > limit
        return views, (self.cursors.encode(shown[-1].id) if more and shown else None)

    def _own_party(self, ctx: CommandContext, party_id: str, *, operator_may: bool = True) -> Party:
        acting_as_operator = ctx.actor.party_id == OPERATOR
        if acting_as_operator and not operator_may:
            raise PermissionDeniedError("only the party itself manages its signing keys")
        if not acting_as_operator and ctx.actor.party_id != party_id:
            raise PartyNotFoundError(f"no party {party_id} that this token may change")
        return self.store.party(party_id)


def _id_only(body: dict[str, Any]) -> dict[str, Any]:
    """What an idempotency record keeps of a party view: no personal data."""
    return {"id": body["id"]}


def _require_operator(ctx: CommandContext) -> None:
    if ctx.actor.party_id != OPERATOR:
        raise PermissionDeniedError("only an operator (admin token) may do this")
