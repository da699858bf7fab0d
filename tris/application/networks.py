"""Use cases for networks of networks: ask for, accept, reject, end and correct memberships.

A membership enters the graph (recorded by an operator, accepted, corrected) only after the
graph it would join was checked for circles. The check reads the memberships read model
once it includes every change of the graph so far, and the command writes the graph's own
aggregate as well: of two changes that could close a circle together, the second fails
its save and is decided again (ADR 21).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from tris.application.errors import ConcurrentUpdateError, VersionMismatchError
from tris.application.readmodels.queries.networks import NetworkQueries
from tris.application.store import CommandContext, EventStore, Outcome
from tris.domain.errors import (
    InvalidMembershipError,
    MembershipNotFoundError,
    NotANetworkError,
    PartyDeactivatedError,
    PartyNotFoundError,
)
from tris.domain.networks.cycles import refuse_cycle
from tris.domain.networks.membership import Membership, MembershipGraph, MembershipTerms
from tris.domain.values import Actor

CommandResult = tuple[list[Aggregate], dict[str, Any]]
# Makes the read models include the log up to a position; False when they could not.
Settle = Callable[[int], bool]


def membership_view(membership: Membership) -> dict[str, Any]:
    """A membership as the v1 contract names its fields."""
    terms = membership.terms
    return {
        "id": membership.membership_id,
        "network_id": terms.network_id,
        "member_id": terms.member_id,
        "role": terms.role,
        "valid_from": terms.valid_from.isoformat(),
        "valid_to": terms.valid_to.isoformat() if terms.valid_to else None,
        "basis": terms.basis,
        "status": membership.status.value,
        "requested_by": membership.requested_by,
        "end_reason": membership.end_reason,
        "version": membership.version,
    }


class Networks:
    """What networks, their members and operators do with memberships."""

    def __init__(self, store: EventStore, queries: NetworkQueries, settle: Settle) -> None:
        self.store = store
        self.queries = queries
        self.settle = settle

    def request(self, ctx: CommandContext, network_id: str, terms: MembershipTerms) -> Outcome:
        """Ask for a membership (the network or the member: pending) or record one (an
        operator: active at once, e.g. to import history)."""

        def command() -> CommandResult:
            self._network(network_id)
            self._party(terms.member_id, "member")
            membership = Membership.request(
                membership_id=uuid.uuid4(), actor=ctx.actor, terms=terms
            )
            changed: list[Aggregate] = [membership]
            if membership.in_graph:
                changed.append(self._enter_graph(ctx.actor, membership))
            else:
                # Told now rather than at acceptance; the acceptance checks again.
                refuse_cycle(terms.edge(), self.queries.upward_edges(terms.network_id))
            return changed, membership_view(membership)

        return self.store.execute(ctx, command, status=201)

    def accept(self, ctx: CommandContext, network_id: str, membership_id: str) -> Outcome:
        """The other side accepts: the membership enters the graph."""

        def apply(membership: Membership) -> list[Aggregate]:
            membership.accept(ctx.actor)
            return [self._enter_graph(ctx.actor, membership)]

        return self._change(ctx, network_id, membership_id, apply)

    def reject(
        self, ctx: CommandContext, network_id: str, membership_id: str, reason: str
    ) -> Outcome:
        """The other side rejects the request."""

        def apply(membership: Membership) -> list[Aggregate]:
            membership.reject(ctx.actor, reason)
            return []

        return self._change(ctx, network_id, membership_id, apply)

    def end(
        self, ctx: CommandContext, network_id: str, membership_id: str, valid_to: date, reason: str
    ) -> Outcome:
        """Either side ends the membership on `valid_to` (a shorter period closes no circle)."""

        def apply(membership: Membership) -> list[Aggregate]:
            membership.end(ctx.actor, valid_to, reason)
            return []

        return self._change(ctx, network_id, membership_id, apply)

    def correct(
        self,
        ctx: CommandContext,
        network_id: str,
        membership_id: str,
        valid_from: date,
        valid_to: date | None,
        reason: str,
    ) -> Outcome:
        """Correct the period of a membership that holds; the corrected period is checked
        for circles like a new one."""

        def apply(membership: Membership) -> list[Aggregate]:
            membership.correct(ctx.actor, valid_from, valid_to, reason)
            return [self._enter_graph(ctx.actor, membership)]

        return self._change(ctx, network_id, membership_id, apply)

    def require_party(self, party_id: str) -> None:
        """PartyNotFoundError unless the party is registered (before asking of its members
        or its networks)."""
        self.store.party(party_id)

    def get(self, network_id: str, membership_id: str) -> dict[str, Any]:
        """One membership of the network (any token)."""
        return membership_view(self._membership(network_id, membership_id))

    # ----------------------------------------------------------------- helpers

    def _enter_graph(self, actor: Actor, membership: Membership) -> MembershipGraph:
        """Check the membership's period against the graph as it stands, and change the
        graph's aggregate so that no other change is decided on the same state."""
        graph = self.store.membership_graph()
        # Every change of the graph up to `graph` was committed before this head.
        if not self.settle(self.store.log.head()):
            raise ConcurrentUpdateError(
                "the membership graph is being brought up to date; retry in a moment"
            )
        # The membership's own stored period (before a correction) is no rival: it could
        # only be met above its network if the graph already had a circle.
        refuse_cycle(
            membership.terms.edge(), self.queries.upward_edges(membership.terms.network_id)
        )
        graph = graph or MembershipGraph.start(actor)
        graph.change(actor, membership.membership_id)
        return graph

    def _change(
        self,
        ctx: CommandContext,
        network_id: str,
        membership_id: str,
        apply: Callable[[Membership], list[Aggregate]],
    ) -> Outcome:
        def command() -> CommandResult:
            membership = self._membership(network_id, membership_id)
            if ctx.expected_version is not None and ctx.expected_version != membership.version:
                raise VersionMismatchError(
                    f"membership {membership_id} is at version {membership.version}, not "
                    f"{ctx.expected_version}; reload it and retry"
                )
            others = apply(membership)
            return [membership, *others], membership_view(membership)

        return self.store.execute(ctx, command)

    def _membership(self, network_id: str, membership_id: str) -> Membership:
        membership = self.store.membership(membership_id)
        if membership.terms.network_id != network_id:
            raise MembershipNotFoundError(f"network {network_id} has no membership {membership_id}")
        return membership

    def _network(self, network_id: str) -> None:
        party = self.store.party(network_id)
        if not party.details.network:
            raise NotANetworkError(
                f"party {network_id} is not registered as a network (network: true)"
            )
        if not party.active:
            raise PartyDeactivatedError(f"party {network_id} is deactivated")

    def _party(self, party_id: str, what: str) -> None:
        try:
            party = self.store.party(party_id)
        except PartyNotFoundError:
            raise InvalidMembershipError(f"the {what} {party_id} is not registered") from None
        if not party.active:
            raise PartyDeactivatedError(f"party {party_id} is deactivated")
