"""Use cases for parties: register, update, contacts, signing keys, deactivation."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate

from tris.application.access import Principal, Role
from tris.application.store import CommandContext, EventStore, Outcome
from tris.application.views import party_view
from tris.domain.errors import PartyNotFoundError, PermissionDeniedError
from tris.domain.party import Contact, Party, PartyDetails
from tris.domain.signing import parse_public_key
from tris.domain.values import OPERATOR


def new_contact(name: str, email: str | None = None, phone: str | None = None) -> Contact:
    """A contact person with a fresh person id (the data subject of erasure requests)."""
    return Contact(person_id=uuid.uuid4().hex, name=name, email=email, phone=phone)


class Parties:
    """Registering and maintaining parties."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

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

        return self.store.execute(ctx, command, status=201)

    def update_details(self, ctx: CommandContext, party_id: str, details: PartyDetails) -> Outcome:
        """Replace a party's public details (the party itself or an operator)."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id)
            party.update_details(ctx.actor, details)
            return [party], party_view(party, with_contacts=True)

        return self.store.execute(ctx, command)

    def replace_contacts(
        self, ctx: CommandContext, party_id: str, contacts: tuple[Contact, ...]
    ) -> Outcome:
        """Replace a party's contact persons."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id)
            party.replace_contacts(ctx.actor, contacts)
            return [party], party_view(party, with_contacts=True)

        return self.store.execute(ctx, command)

    def register_signing_key(self, ctx: CommandContext, party_id: str, public_key: str) -> Outcome:
        """Register a base64 Ed25519 public key; the body carries its `key_id`."""

        def command() -> tuple[list[Aggregate], dict[str, Any]]:
            party = self._own_party(ctx, party_id, operator_may=False)
            key_id = party.register_signing_key(ctx.actor, parse_public_key(public_key))
            return [party], {"key_id": key_id, "party_id": party.party_id}

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

        return self.store.execute(ctx, command)

    def get(self, viewer: Principal, party_id: str) -> dict[str, Any]:
        """One party as the viewer may see it."""
        party = self.store.party(party_id)
        own = viewer.role is Role.PARTNER and viewer.party_id == party.party_id
        return party_view(party, with_contacts=viewer.sees_personal_data or own)

    def list(self, viewer: Principal) -> list[dict[str, Any]]:
        """Every registered party, in registration order."""
        topic = f"{Party.__module__}:{Party.Registered.__qualname__}"
        views = []
        for notification in self.store.app.recorder.select_notifications(
            start=None, limit=1_000_000, topics=[topic]
        ):
            views.append(self.get(viewer, str(notification.originator_id)))
        return views

    def _own_party(self, ctx: CommandContext, party_id: str, *, operator_may: bool = True) -> Party:
        acting_as_operator = ctx.actor.party_id == OPERATOR
        if acting_as_operator and not operator_may:
            raise PermissionDeniedError("only the party itself manages its signing keys")
        if not acting_as_operator and ctx.actor.party_id != party_id:
            raise PartyNotFoundError(f"no party {party_id} that this token may change")
        return self.store.party(party_id)


def _require_operator(ctx: CommandContext) -> None:
    if ctx.actor.party_id != OPERATOR:
        raise PermissionDeniedError("only an operator (admin token) may do this")
