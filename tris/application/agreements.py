"""Use cases for agreements: propose, revise, sign, amend, fulfil, terminate, and read."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate

from tris.application.access import Principal
from tris.application.diff import content_diff
from tris.application.errors import (
    ContentTooLargeError,
    TooManyRevisionsError,
    VersionMismatchError,
)
from tris.application.store import CommandContext, EventStore, Outcome
from tris.application.timeline import timeline_item
from tris.application.views import agreement_view, fulfilment_view, revision_view
from tris.domain.agreement import Agreement, Evidence
from tris.domain.errors import (
    AgreementNotFoundError,
    InvalidContentError,
    PartyDeactivatedError,
    PartyNotFoundError,
)
from tris.domain.signing import canonical_json, decode_base64
from tris.domain.values import ContentDraft, Sector

Clock = Callable[[], date]

CommandResult = tuple[list[Aggregate], dict[str, Any]]


class AgreementReading:
    """One load of an agreement: its version and its revisions, as plain values.

    An HTTP read takes its answer and its ETag from the same reading, so the two agree even
    when the agreement changes in between.
    """

    def __init__(self, agreement: Agreement) -> None:
        self._agreement = agreement

    @property
    def version(self) -> int:
        """The agreement's version when it was read."""
        return self._agreement.version

    def revisions(self, start: int = 1, limit: int | None = None) -> list[dict[str, Any]]:
        """The revisions from number `start` (`limit` of them, or all) with their hashes,
        signing payloads and signatures."""
        chosen = self._agreement.revisions[max(start, 1) - 1 :]
        if limit is not None:
            chosen = chosen[:limit]
        return [revision_view(self._agreement, r) for r in chosen]

    def revision(self, number: int) -> dict[str, Any]:
        """One revision, or RevisionNotFoundError."""
        return revision_view(self._agreement, self._agreement.revision(number))

    def signing_payload(self, number: int) -> bytes:
        """The exact canonical bytes a party signs for revision `number`."""
        return self._agreement.payload(number)

    def diff(self, number: int, against: int) -> dict[str, Any]:
        """Field-level changes from revision `against` to revision `number`."""
        after, before = self._agreement.revision(number), self._agreement.revision(against)
        return {
            "revision": number,
            "against": against,
            "changes": content_diff(before.content, after.content),
        }


class Agreements:
    """Everything partners do with agreements, and what parties and auditors read."""

    def __init__(
        self,
        store: EventStore,
        today: Clock = date.today,
        *,
        max_content_bytes: int = 256 * 1024,
        max_revisions: int = 200,
    ) -> None:
        self.store = store
        self.today = today
        self.max_content_bytes = max_content_bytes
        self.max_revisions = max_revisions

    def bounded(self, agreement: Agreement) -> None:
        """Refuse content or a history of revisions beyond the configured bounds (the
        changed aggregate is then not saved)."""
        if len(agreement.revisions) > self.max_revisions:
            raise TooManyRevisionsError(
                f"an agreement has at most {self.max_revisions} revisions; conclude, "
                "terminate or start a new agreement"
            )
        size = len(canonical_json(agreement.latest.content.to_dict()))
        if size > self.max_content_bytes:
            raise ContentTooLargeError(
                f"the content takes {size} bytes; at most {self.max_content_bytes} are allowed"
            )

    # ---------------------------------------------------------------- commands

    def propose(self, ctx: CommandContext, draft: ContentDraft) -> Outcome:
        """Propose an agreement for the actor's party; the body is the new agreement's view."""

        def command() -> CommandResult:
            self.require_active(ctx.actor.party_id)
            agreement = Agreement.propose(
                agreement_id=uuid.uuid4(),
                actor=ctx.actor,
                draft=draft,
                party_sectors=self.sectors(draft.parties),
            )
            self.bounded(agreement)
            return [agreement], self.view(agreement)

        return self.store.execute(ctx, command, status=201)

    def revise(
        self, ctx: CommandContext, agreement_id: str, draft: ContentDraft, rationale: str
    ) -> Outcome:
        """Replace a proposal's content with a new revision."""

        def apply(agreement: Agreement) -> None:
            agreement.revise(ctx.actor, draft, rationale, self.sectors(draft.parties))
            self.bounded(agreement)

        return self._change(ctx, agreement_id, apply, status=201)

    def sign(
        self, ctx: CommandContext, agreement_id: str, revision: int, key_id: str, signature: str
    ) -> Outcome:
        """Sign a revision (a proposal's latest or a pending amendment)."""
        raw = decode_base64(signature, what="signature")

        def apply(agreement: Agreement) -> None:
            key = self.store.party(ctx.actor.party_id).key_for_signing(
                key_id, signer=ctx.actor.party_id
            )
            agreement.sign(ctx.actor, revision, key, raw)

        return self._change(ctx, agreement_id, apply, status=201)

    def decline(self, ctx: CommandContext, agreement_id: str, reason: str) -> Outcome:
        """Decline the latest revision of a proposal."""
        return self._change(ctx, agreement_id, lambda a: a.decline(ctx.actor, reason))

    def withdraw(self, ctx: CommandContext, agreement_id: str, reason: str) -> Outcome:
        """Withdraw a proposal (its proposer only)."""
        return self._change(ctx, agreement_id, lambda a: a.withdraw(ctx.actor, reason))

    def terminate(self, ctx: CommandContext, agreement_id: str, reason: str) -> Outcome:
        """Terminate an agreement in force."""
        return self._change(ctx, agreement_id, lambda a: a.terminate(ctx.actor, reason))

    def propose_amendment(
        self, ctx: CommandContext, agreement_id: str, draft: ContentDraft, rationale: str
    ) -> Outcome:
        """Propose an amendment to an agreement in force."""

        def apply(agreement: Agreement) -> None:
            agreement.propose_amendment(ctx.actor, draft, rationale, self.sectors(draft.parties))
            self.bounded(agreement)

        return self._change(ctx, agreement_id, apply, status=201)

    def reject_amendment(
        self, ctx: CommandContext, agreement_id: str, revision: int, reason: str
    ) -> Outcome:
        """Reject the pending amendment."""
        return self._change(
            ctx, agreement_id, lambda a: a.reject_amendment(ctx.actor, revision, reason)
        )

    def record_fulfilment(
        self,
        ctx: CommandContext,
        agreement_id: str,
        commitment_id: str,
        quantity: str,
        delivered_on: date,
        note: str,
        evidence: Evidence | None = None,
    ) -> Outcome:
        """Record a delivery; the body is the fulfilment view with its `id`."""

        def command() -> CommandResult:
            agreement = self._load_for_change(ctx, agreement_id)
            fulfilment_id = agreement.record_fulfilment(
                ctx.actor, commitment_id, quantity, delivered_on, note, evidence
            )
            body = fulfilment_view(agreement.open_fulfilments[fulfilment_id])
            body.update(agreement_id=agreement.agreement_id, version=agreement.version)
            return [agreement], body

        return self.store.execute(ctx, command, status=201)

    def confirm_fulfilment(self, ctx: CommandContext, agreement_id: str, fid: str) -> Outcome:
        """Confirm another party's delivery."""
        return self._change(ctx, agreement_id, lambda a: a.confirm_fulfilment(ctx.actor, fid))

    def dispute_fulfilment(
        self, ctx: CommandContext, agreement_id: str, fid: str, reason: str
    ) -> Outcome:
        """Dispute another party's delivery."""
        return self._change(
            ctx, agreement_id, lambda a: a.dispute_fulfilment(ctx.actor, fid, reason)
        )

    # ------------------------------------------------------------------- reads

    def get(
        self,
        viewer: Principal,
        agreement_id: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """The agreement now, at a version, or as it stood at a moment."""
        current = self._load_for_read(viewer, agreement_id)
        if as_of is not None:
            at = self.store.version_at(current.id, as_of)
            if at is None:
                raise AgreementNotFoundError(
                    f"agreement {agreement_id} did not exist yet at {as_of.isoformat()}"
                )
            version = at if version is None else min(version, at)
        if version is None or version >= current.version:
            return self.view(current)
        if version < 1:
            raise AgreementNotFoundError(f"agreement {agreement_id} has no version {version}")
        return self.view(self.store.agreement(agreement_id, version=version))

    def read(self, viewer: Principal, agreement_id: str) -> AgreementReading:
        """The agreement as this viewer may see it now, loaded once for several answers."""
        return AgreementReading(self._load_for_read(viewer, agreement_id))

    def revisions(self, viewer: Principal, agreement_id: str) -> list[dict[str, Any]]:
        """Every revision with its hash, signing payload and signatures."""
        return self.read(viewer, agreement_id).revisions()

    def revision(self, viewer: Principal, agreement_id: str, number: int) -> dict[str, Any]:
        """One revision."""
        return self.read(viewer, agreement_id).revision(number)

    def signing_payload(self, viewer: Principal, agreement_id: str, number: int) -> bytes:
        """The exact canonical bytes a party signs for revision `number`."""
        return self.read(viewer, agreement_id).signing_payload(number)

    def diff(
        self, viewer: Principal, agreement_id: str, number: int, against: int
    ) -> dict[str, Any]:
        """Field-level changes from revision `against` to revision `number`."""
        return self.read(viewer, agreement_id).diff(number, against)

    def history(self, viewer: Principal, agreement_id: str) -> list[dict[str, Any]]:
        """The audit timeline: every event with position, version, time, actor and summary."""
        agreement = self._load_for_read(viewer, agreement_id)
        positions = self.store.database.positions(agreement.id)
        events = self.store.events(agreement.id)
        names = self._names(e.actor.party_id for e in events)
        names.update(self._names(agreement.parties))
        hashes = self._hashes(agreement.agreement_id)
        items = []
        for event in events:
            item = timeline_item(event, positions.get(event.originator_version), names)
            item["hash"] = hashes.get(event.originator_version)
            items.append(item)
        return items

    def _hashes(self, agreement_id: str) -> dict[int, str]:
        """The chain hash recorded with each version of an agreement."""
        chain = self.store.hashes.chain(agreement_id)
        return {version: digest for version, (digest, _) in chain.items()}

    # ----------------------------------------------------------------- helpers

    def _change(
        self,
        ctx: CommandContext,
        agreement_id: str,
        apply: Callable[[Agreement], object],
        *,
        status: int = 200,
    ) -> Outcome:
        def command() -> CommandResult:
            agreement = self._load_for_change(ctx, agreement_id)
            apply(agreement)
            return [agreement], self.view(agreement)

        return self.store.execute(ctx, command, status=status)

    def _load_for_change(self, ctx: CommandContext, agreement_id: str) -> Agreement:
        agreement = self.store.agreement(agreement_id)
        if not _involves(agreement, ctx.actor.party_id):
            raise AgreementNotFoundError(f"no agreement {agreement_id} of this party")
        self.require_active(ctx.actor.party_id)
        if ctx.expected_version is not None and ctx.expected_version != agreement.version:
            raise VersionMismatchError(
                f"agreement {agreement_id} is at version {agreement.version}, "
                f"not {ctx.expected_version}; reload it and retry"
            )
        return agreement

    def visible(self, viewer: Principal, agreement_id: str) -> Agreement:
        """The agreement if this viewer may read it, else AgreementNotFoundError."""
        return self._load_for_read(viewer, agreement_id)

    def _load_for_read(self, viewer: Principal, agreement_id: str) -> Agreement:
        agreement = self.store.agreement(agreement_id)
        if viewer.sees_everything or (viewer.published_only and agreement.published):
            return agreement
        if viewer.party_id is None or not (
            _involves(agreement, viewer.party_id) or self._runs_origin(agreement, viewer.party_id)
        ):
            raise AgreementNotFoundError(f"no agreement {agreement_id} visible to this token")
        return agreement

    def _runs_origin(self, agreement: Agreement, party_id: str) -> bool:
        """True when the party organises, brokers or notarises at the agreement's market
        (they read what their market made, to notarise and to follow it up)."""
        if agreement.origin is None:
            return False
        market = self.store.market(agreement.origin.market_id)
        return party_id in (
            *market.plan.organisers,
            *market.plan.brokers,
            *market.plan.notaries,
        )

    def view(self, agreement: Agreement) -> dict[str, Any]:
        """The agreement's view as of today, with its whole fulfilment ledger."""
        return agreement_view(agreement, self.today(), self.store.fulfilments(agreement))

    def sectors(self, party_ids: Iterable[str]) -> dict[str, Sector]:
        """Each party's sector; InvalidContentError for an unregistered party."""
        sectors = {}
        for party_id in party_ids:
            try:
                party = self.store.party(party_id)
            except PartyNotFoundError:
                raise InvalidContentError(f"party {party_id} is not registered") from None
            if not party.active:
                raise PartyDeactivatedError(f"party {party_id} is deactivated")
            sectors[party_id] = party.sector
        return sectors

    def require_active(self, party_id: str) -> None:
        """PartyDeactivatedError when the party is deactivated."""
        if not self.store.party(party_id).active:
            raise PartyDeactivatedError(f"party {party_id} is deactivated")

    def _names(self, party_ids: Iterable[str]) -> dict[str, str]:
        names = {}
        for party_id in set(party_ids):
            try:
                names[party_id] = self.store.party(party_id).details.name
            except PartyNotFoundError:
                continue
        return names


def _involves(agreement: Agreement, party_id: str) -> bool:
    """True when the party is or was a party of any revision (so it may see the record)."""
    return any(party_id in r.content.parties for r in agreement.revisions)
