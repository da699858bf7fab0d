"""The Agreement aggregate: proposal, revisions, signatures, amendments, fulfilments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import Enum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from tris.domain.errors import (
    AgreementNotInForceError,
    AgreementNotProposedError,
    AlreadyNotarisedError,
    AlreadySignedError,
    AmendmentPendingError,
    CommitmentAlreadyFulfilledError,
    CommitmentNotFoundError,
    FulfilmentAlreadySettledError,
    FulfilmentNotFoundError,
    InvalidInputError,
    InvalidSignatureError,
    MissingReasonError,
    NoPendingAmendmentError,
    NotANotaryError,
    NotAPartyError,
    NotDebtorError,
    NotProposerError,
    RevisionDeclinedError,
    RevisionNotFoundError,
    SelfConfirmationError,
    SigningKeyNotOwnedError,
    StaleRevisionError,
)
from tris.domain.market.deal import Origin, refuse_money_in
from tris.domain.party import SigningKey
from tris.domain.signing import content_hash, signature_is_valid, signing_payload
from tris.domain.values import (
    Actor,
    Commitment,
    CommitmentKind,
    CommitmentStatus,
    Content,
    ContentDraft,
    Sector,
    SectorMix,
    check_date,
    check_text,
    parse_quantity,
    validate_draft,
)

MAX_REASON = 5_000


class AgreementStatus(Enum):
    """Where an agreement stands in its lifecycle."""

    PROPOSED = "proposed"
    IN_FORCE = "in_force"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    WITHDRAWN = "withdrawn"


class RevisionKind(Enum):
    """How a revision came about."""

    PROPOSAL = "proposal"
    REVISION = "revision"
    AMENDMENT = "amendment"


class RevisionState(Enum):
    """What became of a revision."""

    OPEN = "open"
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


class FulfilmentStatus(Enum):
    """Whether another party has settled a recorded delivery."""

    RECORDED = "recorded"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"


@dataclass(frozen=True)
class Evidence:
    """A pointer to evidence of a delivery and the SHA-256 of what it points to."""

    url: str
    sha256: str

    def validate(self) -> None:
        """Raise InvalidInputError unless url and digest are well-formed."""
        if not self.url.startswith(("https://", "http://")) or len(self.url) > 2000:
            raise InvalidInputError("evidence url must be an http(s) URL")
        check_text("evidence url", self.url)
        digest = self.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidInputError("evidence sha256 must be 64 hex digits")


@dataclass(frozen=True)
class SignatureRecord:
    """A party's signature of one revision."""

    party_id: str
    key_id: str
    signature: bytes
    actor: Actor


@dataclass(frozen=True)
class Notarisation:
    """A market notary's countersignature of a revision in force."""

    party_id: str
    key_id: str
    revision: int
    signature: bytes


@dataclass(frozen=True)
class Revision:
    """One numbered content of an agreement, with who signed or declined it."""

    number: int
    kind: RevisionKind
    content: Content
    party_sectors: Mapping[str, Sector]
    rationale: str | None
    author: Actor
    content_hash: str
    state: RevisionState = RevisionState.OPEN
    signatures: Mapping[str, SignatureRecord] = field(default_factory=dict)
    declined: Mapping[str, str] = field(default_factory=dict)

    @property
    def sector_mix(self) -> SectorMix:
        """The sector mix of this revision's parties."""
        return SectorMix.of(self.party_sectors.values())

    def fully_signed(self, also: tuple[str, ...] = ()) -> bool:
        """True when every party of this revision, and every party in `also`, signed it."""
        return all(p in self.signatures for p in (*self.content.parties, *also))


@dataclass(frozen=True)
class Fulfilment:
    """A delivery recorded by a debtor against a commitment, and its settlement."""

    id: str
    commitment_id: str
    debtor: str
    quantity: Decimal
    delivered_on: date
    note: str
    evidence: Evidence | None
    recorded_by: Actor
    status: FulfilmentStatus = FulfilmentStatus.RECORDED
    settled_by: Actor | None = None
    reason: str | None = None


def _require_reason(reason: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise MissingReasonError(f"{what} needs a non-empty reason")
    if len(reason) > MAX_REASON:
        raise MissingReasonError(f"{what}: the reason has at most {MAX_REASON} characters")
    return check_text(f"{what}: the reason", reason, multiline=True)


class Agreement(Aggregate):
    """A trisectoral agreement and its whole history, from proposal to completion.

    The aggregate keeps what its rules decide on, so that loading it stays as cheap with
    thousands of deliveries as with a few: the fulfilments still open (recorded, not yet
    settled) in full, the ids of disputed ones, and the confirmed quantity per commitment.
    Every settled delivery is in the events; `fulfilment_ledger` folds them into the full
    list that views show (ADR 0009).
    """

    # Version 2 of the aggregate's state (snapshots): open fulfilments and disputed ids
    # instead of every fulfilment ever recorded. Version 3: the market origin and the
    # notaries' countersignatures.
    class_version = 3

    class Proposed(Aggregate.Created):
        """A party proposed an agreement: revision 1."""

        actor: Actor
        content: Content
        party_sectors: dict[str, Sector]

    class ProposedAtMarket(Proposed):
        """A deal at a market proposed an agreement: revision 1, with its origin."""

        origin: Origin

    class Revised(Aggregate.Event):
        """A party replaced the whole content of a proposal: a new revision."""

        actor: Actor
        revision: int
        content: Content
        party_sectors: dict[str, Sector]
        rationale: str

    class Signed(Aggregate.Event):
        """A party signed a revision with one of its keys."""

        actor: Actor
        revision: int
        key_id: str
        signature: bytes

    class Concluded(Aggregate.Event):
        """Every party signed the latest revision: the agreement is in force."""

        actor: Actor
        revision: int

    class Declined(Aggregate.Event):
        """A party declined to sign a revision."""

        actor: Actor
        revision: int
        reason: str

    class Withdrawn(Aggregate.Event):
        """The proposer withdrew the proposal."""

        actor: Actor
        reason: str

    class AmendmentProposed(Aggregate.Event):
        """A party proposed to amend the agreement in force."""

        actor: Actor
        revision: int
        content: Content
        party_sectors: dict[str, Sector]
        rationale: str

    class AmendmentRejected(Aggregate.Event):
        """A party rejected the pending amendment."""

        actor: Actor
        revision: int
        reason: str

    class AmendmentAdopted(Aggregate.Event):
        """Every party signed the pending amendment: it is in force now."""

        actor: Actor
        revision: int

    class FulfilmentRecorded(Aggregate.Event):
        """A debtor recorded a delivery against a commitment."""

        actor: Actor
        fulfilment_id: str
        commitment_id: str
        quantity: Decimal
        delivered_on: date
        note: str
        evidence: Evidence | None

    class FulfilmentConfirmed(Aggregate.Event):
        """Another party confirmed a recorded delivery."""

        actor: Actor
        fulfilment_id: str

    class FulfilmentDisputed(Aggregate.Event):
        """Another party disputed a recorded delivery."""

        actor: Actor
        fulfilment_id: str
        reason: str

    class Completed(Aggregate.Event):
        """Every commitment in force is fulfilled."""

        actor: Actor

    class Terminated(Aggregate.Event):
        """A party terminated the agreement in force."""

        actor: Actor
        reason: str

    class Notarised(Aggregate.Event):
        """A notary of the origin market countersigned the revision in force."""

        actor: Actor
        revision: int
        key_id: str
        signature: bytes

    def __init__(
        self,
        actor: Actor,
        content: Content,
        party_sectors: dict[str, Sector],
        origin: Origin | None = None,
    ) -> None:
        self.proposer = actor.party_id
        self.origin = origin
        self.notarisations: list[Notarisation] = []
        self.status = AgreementStatus.PROPOSED
        self.revisions: list[Revision] = []
        self.in_force_revision: int | None = None
        self.pending_amendment: int | None = None
        self.open_fulfilments: dict[str, Fulfilment] = {}
        self.disputed_fulfilments: list[str] = []
        self.confirmed: dict[str, Decimal] = {}
        self.commitment_counter = 0
        self.fulfilment_counter = 0
        self.termination_reason: str | None = None
        self._add_revision(RevisionKind.PROPOSAL, actor, content, party_sectors, None)

    # ----------------------------------------------------------------- queries

    @property
    def agreement_id(self) -> str:
        """The agreement's id as clients see it."""
        return str(self.id)

    @property
    def latest(self) -> Revision:
        """The latest revision (proposal, revision or amendment)."""
        return self.revisions[-1]

    def revision(self, number: int) -> Revision:
        """The revision with this number."""
        if not 1 <= number <= len(self.revisions):
            raise RevisionNotFoundError(f"agreement has no revision {number}")
        return self.revisions[number - 1]

    @property
    def in_force(self) -> Revision | None:
        """The revision in force, if the agreement was concluded."""
        return None if self.in_force_revision is None else self.revision(self.in_force_revision)

    @property
    def published(self) -> bool:
        """True when the revision in force says `public`: its signatures are the consent."""
        in_force = self.in_force
        return in_force is not None and in_force.content.public

    @property
    def current(self) -> Revision:
        """The revision that governs now: the one in force, else the latest proposal."""
        return self.in_force or self.latest

    @property
    def parties(self) -> tuple[str, ...]:
        """The parties of the governing revision."""
        return self.current.content.parties

    @property
    def sector_mix(self) -> SectorMix:
        """The sector mix of the governing revision."""
        return self.current.sector_mix

    @property
    def signers(self) -> tuple[str, ...]:
        """Who must sign the latest revision: its parties, and for a pending amendment also
        every party of the revision in force (a party the amendment drops must consent)."""
        named = self.latest.content.parties
        if self.pending_amendment is None or self.in_force is None:
            return named
        return (*named, *(p for p in self.in_force.content.parties if p not in named))

    def is_party(self, party_id: str) -> bool:
        """True when `party_id` is a party of the governing or the latest revision."""
        return party_id in self.parties or party_id in self.latest.content.parties

    def payload(self, number: int) -> bytes:
        """The exact canonical bytes each party signs for revision `number`."""
        return signing_payload(self.agreement_id, number, self.revision(number).content)

    def commitment_status(self, commitment: Commitment, today: date) -> CommitmentStatus:
        """Status of a commitment by its confirmed quantity, overdue against `today`."""
        confirmed = self.confirmed.get(commitment.id, Decimal(0))
        if confirmed >= commitment.quantity:
            return CommitmentStatus.FULFILLED
        if commitment.due_on is not None and commitment.due_on < today:
            return CommitmentStatus.OVERDUE
        if confirmed > 0:
            return CommitmentStatus.PARTIALLY_FULFILLED
        return CommitmentStatus.OPEN

    def confirmed_quantity(self, commitment_id: str) -> Decimal:
        """The quantity of a commitment confirmed by other parties so far."""
        return self.confirmed.get(commitment_id, Decimal(0))

    def fulfilment_status(self, fulfilment_id: str) -> FulfilmentStatus:
        """Where a recorded delivery stands, or FulfilmentNotFoundError."""
        if fulfilment_id in self.open_fulfilments:
            return FulfilmentStatus.RECORDED
        if fulfilment_id in self.disputed_fulfilments:
            return FulfilmentStatus.DISPUTED
        number = fulfilment_id[1:]
        if (
            fulfilment_id.startswith("F")
            and number.isascii()
            and number.isdigit()
            and len(number) < 19
            and fulfilment_id == f"F{int(number)}"
            and 1 <= int(number) <= self.fulfilment_counter
        ):
            return FulfilmentStatus.CONFIRMED
        raise FulfilmentNotFoundError(f"agreement has no fulfilment {fulfilment_id}")

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        """Snapshots of version 1 held every fulfilment; version 2 keeps the open ones."""
        fulfilments = state.pop("fulfilments", {})
        assert isinstance(fulfilments, dict)
        state["open_fulfilments"] = {
            fid: f for fid, f in fulfilments.items() if f.status is FulfilmentStatus.RECORDED
        }
        state["disputed_fulfilments"] = [
            fid for fid, f in fulfilments.items() if f.status is FulfilmentStatus.DISPUTED
        ]

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        """Agreements before markets had no origin and no notarisation."""
        state.setdefault("origin", None)
        state.setdefault("notarisations", [])

    # ------------------------------------------------------------- proposal

    @classmethod
    def propose(
        cls,
        *,
        agreement_id: UUID,
        actor: Actor,
        draft: ContentDraft,
        party_sectors: Mapping[str, Sector],
    ) -> Agreement:
        """Propose an agreement for the actor's own party; its content is revision 1."""
        validate_draft(draft, author=actor.party_id)
        content = _assign_commitment_ids(draft, existing=None, counter=0)
        return cls._create(
            cls.Proposed,
            id=agreement_id,
            actor=actor,
            content=content,
            party_sectors=_sectors_for(content, party_sectors),
        )

    @classmethod
    def propose_at_market(
        cls,
        *,
        agreement_id: UUID,
        actor: Actor,
        draft: ContentDraft,
        party_sectors: Mapping[str, Sector],
        origin: Origin,
    ) -> Agreement:
        """Propose the agreement of a market deal: a broker may propose between others
        (`origin.broker`); money is taboo (MoneyAtMarketError)."""
        validate_draft(draft, author=None if origin.broker == actor.party_id else actor.party_id)
        refuse_money_in(draft)
        content = _assign_commitment_ids(draft, existing=None, counter=0)
        return cls._create(
            cls.ProposedAtMarket,
            id=agreement_id,
            actor=actor,
            content=content,
            party_sectors=_sectors_for(content, party_sectors),
            origin=origin,
        )

    def revise(
        self,
        actor: Actor,
        draft: ContentDraft,
        rationale: str,
        party_sectors: Mapping[str, Sector],
    ) -> int:
        """Replace the whole content of a proposal; return the new revision number."""
        self._require_status(AgreementStatus.PROPOSED, "revise")
        self._require_party(actor, self.latest.content.parties)
        _require_reason(rationale, "a revision")
        number, content, sectors = self._next_content(actor, draft, self.latest, party_sectors)
        self._revise(
            actor=actor,
            revision=number,
            content=content,
            party_sectors=sectors,
            rationale=rationale,
        )
        return number

    def _next_content(
        self,
        actor: Actor,
        draft: ContentDraft,
        base: Revision,
        party_sectors: Mapping[str, Sector],
    ) -> tuple[int, Content, dict[str, Sector]]:
        """Validate a draft replacing `base`; its number, content and the parties' sectors."""
        validate_draft(draft, author=actor.party_id)
        if self.origin is not None:
            refuse_money_in(draft)
        content = _assign_commitment_ids(
            draft, existing=base.content, counter=self.commitment_counter
        )
        return len(self.revisions) + 1, content, _sectors_for(content, party_sectors)

    @event(Revised)
    def _revise(
        self,
        actor: Actor,
        revision: int,
        content: Content,
        party_sectors: dict[str, Sector],
        rationale: str,
    ) -> None:
        self._supersede_latest()
        self._add_revision(RevisionKind.REVISION, actor, content, party_sectors, rationale)

    # ------------------------------------------------------------ signatures

    def sign(self, actor: Actor, revision: int, key: SigningKey, signature: bytes) -> bool:
        """Sign revision `revision`; return True when this signature concluded it.

        Signs either a proposal (status `proposed`) or the pending amendment of an
        agreement in force. Only the latest revision can be signed.
        """
        latest = self.latest
        if self.status is AgreementStatus.PROPOSED or (
            self.status is AgreementStatus.IN_FORCE and self.pending_amendment is not None
        ):
            pass
        elif self.status is AgreementStatus.IN_FORCE:
            raise NoPendingAmendmentError(
                f"revision {revision} cannot be signed: the agreement is in force "
                "and no amendment is pending"
            )
        else:
            raise AgreementNotProposedError(
                f"an agreement that is {self.status.value} cannot be signed"
            )
        self.revision(revision)
        if revision != latest.number:
            raise StaleRevisionError(
                f"revision {revision} is not the latest; sign revision {latest.number}"
            )
        self._require_party(actor, self.signers)
        if key.party_id != actor.party_id:
            raise SigningKeyNotOwnedError(f"key {key.key_id} belongs to another party")
        if actor.party_id in latest.signatures:
            raise AlreadySignedError(f"party {actor.party_id} signed revision {revision} already")
        if actor.party_id in latest.declined:
            raise RevisionDeclinedError(f"party {actor.party_id} declined revision {revision}")
        if not signature_is_valid(key.public_key, signature, self.payload(revision)):
            raise InvalidSignatureError(
                f"the signature does not verify for the signing payload of revision "
                f"{revision} under key {key.key_id}"
            )
        self._sign(actor=actor, revision=revision, key_id=key.key_id, signature=signature)
        if not self.latest.fully_signed(self.signers) or self.latest.declined:
            return False
        if self.status is AgreementStatus.PROPOSED:
            self._conclude(actor=actor, revision=revision)
        else:
            self._adopt_amendment(actor=actor, revision=revision)
            # An amendment may lower quantities to what is confirmed already; nothing could
            # be recorded against them any more, so the agreement completes now.
            self._complete_if_fulfilled(actor)
        return True

    @event(Signed)
    def _sign(self, actor: Actor, revision: int, key_id: str, signature: bytes) -> None:
        latest = self.revisions[revision - 1]
        record = SignatureRecord(actor.party_id, key_id, signature, actor)
        signatures = {**latest.signatures, actor.party_id: record}
        self.revisions[revision - 1] = replace(latest, signatures=signatures)

    @event(Concluded)
    def _conclude(self, actor: Actor, revision: int) -> None:
        self.status = AgreementStatus.IN_FORCE
        self.in_force_revision = revision
        self._set_state(revision, RevisionState.IN_FORCE)

    def decline(self, actor: Actor, reason: str) -> None:
        """Decline to sign the latest revision of a proposal."""
        self._require_status(AgreementStatus.PROPOSED, "decline")
        latest = self.latest
        self._require_party(actor, latest.content.parties)
        _require_reason(reason, "declining")
        if actor.party_id in latest.signatures:
            raise AlreadySignedError(f"party {actor.party_id} signed revision {latest.number}")
        if actor.party_id in latest.declined:
            raise RevisionDeclinedError(
                f"party {actor.party_id} declined revision {latest.number} already"
            )
        self._decline(actor=actor, revision=latest.number, reason=reason)

    @event(Declined)
    def _decline(self, actor: Actor, revision: int, reason: str) -> None:
        latest = self.revisions[revision - 1]
        declined = {**latest.declined, actor.party_id: reason}
        self.revisions[revision - 1] = replace(latest, declined=declined)

    def withdraw(self, actor: Actor, reason: str) -> None:
        """Withdraw a proposal; only its proposer may, while a party of the latest revision
        (a proposer that a revision dropped has no say over the others' proposal)."""
        self._require_status(AgreementStatus.PROPOSED, "withdraw")
        self._require_party(actor, self.latest.content.parties)
        if actor.party_id != self.proposer:
            raise NotProposerError("only the proposer may withdraw a proposal")
        _require_reason(reason, "withdrawing")
        self._withdraw(actor=actor, reason=reason)

    @event(Withdrawn)
    def _withdraw(self, actor: Actor, reason: str) -> None:
        self.status = AgreementStatus.WITHDRAWN

    # ------------------------------------------------------------ amendments

    def propose_amendment(
        self,
        actor: Actor,
        draft: ContentDraft,
        rationale: str,
        party_sectors: Mapping[str, Sector],
    ) -> int:
        """Propose new content for an agreement in force; return its revision number."""
        self._require_status(AgreementStatus.IN_FORCE, "amend")
        self._require_party(actor, self.parties)
        if self.pending_amendment is not None:
            raise AmendmentPendingError(
                f"amendment {self.pending_amendment} is pending; one amendment at a time"
            )
        _require_reason(rationale, "an amendment")
        number, content, sectors = self._next_content(actor, draft, self.current, party_sectors)
        self._propose_amendment(
            actor=actor,
            revision=number,
            content=content,
            party_sectors=sectors,
            rationale=rationale,
        )
        return number

    @event(AmendmentProposed)
    def _propose_amendment(
        self,
        actor: Actor,
        revision: int,
        content: Content,
        party_sectors: dict[str, Sector],
        rationale: str,
    ) -> None:
        self._add_revision(RevisionKind.AMENDMENT, actor, content, party_sectors, rationale)
        self.pending_amendment = revision

    def reject_amendment(self, actor: Actor, revision: int, reason: str) -> None:
        """Reject the pending amendment `revision`."""
        self._require_status(AgreementStatus.IN_FORCE, "reject an amendment of")
        if self.pending_amendment is None or self.pending_amendment != revision:
            raise NoPendingAmendmentError(f"revision {revision} is not a pending amendment")
        self._require_party(actor, self.parties + self.latest.content.parties)
        _require_reason(reason, "rejecting an amendment")
        self._reject_amendment(actor=actor, revision=revision, reason=reason)

    @event(AmendmentRejected)
    def _reject_amendment(self, actor: Actor, revision: int, reason: str) -> None:
        self._set_state(revision, RevisionState.REJECTED)
        self.pending_amendment = None

    @event(AmendmentAdopted)
    def _adopt_amendment(self, actor: Actor, revision: int) -> None:
        if self.in_force_revision is not None:
            self._set_state(self.in_force_revision, RevisionState.SUPERSEDED)
        self._set_state(revision, RevisionState.IN_FORCE)
        self.in_force_revision = revision
        self.pending_amendment = None

    # ----------------------------------------------------------- fulfilments

    def record_fulfilment(
        self,
        actor: Actor,
        commitment_id: str,
        quantity: Decimal | str,
        delivered_on: date,
        note: str,
        evidence: Evidence | None = None,
    ) -> str:
        """Record a delivery against a commitment in force; return the fulfilment id."""
        self._require_status(AgreementStatus.IN_FORCE, "record a fulfilment of")
        self._require_party(actor, self.parties)
        in_force = self.in_force
        assert in_force is not None
        commitment = in_force.content.commitment(commitment_id)
        if commitment is None:
            raise CommitmentNotFoundError(
                f"revision {in_force.number} in force has no commitment {commitment_id}"
            )
        if commitment.debtor != actor.party_id:
            raise NotDebtorError(
                f"only the debtor {commitment.debtor} records fulfilments of {commitment_id}"
            )
        if self.confirmed_quantity(commitment_id) >= commitment.quantity:
            raise CommitmentAlreadyFulfilledError(f"commitment {commitment_id} is fulfilled")
        amount = parse_quantity(quantity)
        if not isinstance(note, str) or len(note) > MAX_REASON:
            raise InvalidInputError(f"a note has at most {MAX_REASON} characters")
        check_text("note", note, multiline=True)
        check_date("delivered_on", delivered_on)
        if evidence is not None:
            evidence.validate()
        fulfilment_id = f"F{self.fulfilment_counter + 1}"
        self._record_fulfilment(
            actor=actor,
            fulfilment_id=fulfilment_id,
            commitment_id=commitment_id,
            quantity=amount,
            delivered_on=delivered_on,
            note=note,
            evidence=evidence,
        )
        return fulfilment_id

    @event(FulfilmentRecorded)
    def _record_fulfilment(
        self,
        actor: Actor,
        fulfilment_id: str,
        commitment_id: str,
        quantity: Decimal,
        delivered_on: date,
        note: str,
        evidence: Evidence | None,
    ) -> None:
        self.fulfilment_counter += 1
        self.open_fulfilments[fulfilment_id] = Fulfilment(
            id=fulfilment_id,
            commitment_id=commitment_id,
            debtor=actor.party_id,
            quantity=quantity,
            delivered_on=delivered_on,
            note=note,
            evidence=evidence,
            recorded_by=actor,
        )

    def confirm_fulfilment(self, actor: Actor, fulfilment_id: str) -> bool:
        """Confirm another party's delivery; return True when this completed the agreement."""
        self._settleable(actor, fulfilment_id)
        self._confirm_fulfilment(actor=actor, fulfilment_id=fulfilment_id)
        return self._complete_if_fulfilled(actor)

    def _complete_if_fulfilled(self, actor: Actor) -> bool:
        in_force = self.in_force
        assert in_force is not None
        if all(self.confirmed_quantity(c.id) >= c.quantity for c in in_force.content.commitments):
            self._complete(actor=actor)
            return True
        return False

    @event(FulfilmentConfirmed)
    def _confirm_fulfilment(self, actor: Actor, fulfilment_id: str) -> None:
        fulfilment = self.open_fulfilments.pop(fulfilment_id)
        self.confirmed[fulfilment.commitment_id] = (
            self.confirmed.get(fulfilment.commitment_id, Decimal(0)) + fulfilment.quantity
        )

    def dispute_fulfilment(self, actor: Actor, fulfilment_id: str, reason: str) -> None:
        """Dispute another party's delivery, with a reason."""
        self._settleable(actor, fulfilment_id)
        _require_reason(reason, "disputing a fulfilment")
        self._dispute_fulfilment(actor=actor, fulfilment_id=fulfilment_id, reason=reason)

    @event(FulfilmentDisputed)
    def _dispute_fulfilment(self, actor: Actor, fulfilment_id: str, reason: str) -> None:
        del self.open_fulfilments[fulfilment_id]
        self.disputed_fulfilments.append(fulfilment_id)

    def _settleable(self, actor: Actor, fulfilment_id: str) -> Fulfilment:
        self._require_status(AgreementStatus.IN_FORCE, "settle a fulfilment of")
        self._require_party(actor, self.parties)
        status = self.fulfilment_status(fulfilment_id)
        if status is not FulfilmentStatus.RECORDED:
            raise FulfilmentAlreadySettledError(
                f"fulfilment {fulfilment_id} was {status.value} already"
            )
        fulfilment = self.open_fulfilments[fulfilment_id]
        if fulfilment.debtor == actor.party_id:
            raise SelfConfirmationError(
                "a fulfilment is confirmed or disputed by another party than its debtor"
            )
        return fulfilment

    @event(Completed)
    def _complete(self, actor: Actor) -> None:
        self.status = AgreementStatus.COMPLETED
        self._close_pending_amendment()

    def terminate(self, actor: Actor, reason: str) -> None:
        """Terminate an agreement in force, with a reason."""
        self._require_status(AgreementStatus.IN_FORCE, "terminate")
        self._require_party(actor, self.parties)
        _require_reason(reason, "terminating")
        self._terminate(actor=actor, reason=reason)

    @event(Terminated)
    def _terminate(self, actor: Actor, reason: str) -> None:
        self.status = AgreementStatus.TERMINATED
        self.termination_reason = reason
        self._close_pending_amendment()

    # ---------------------------------------------------------- notarisation

    def notarise(
        self, actor: Actor, key: SigningKey, signature: bytes, notaries: tuple[str, ...]
    ) -> int:
        """Countersign the revision in force as a notary of the origin market (`notaries`);
        return the revision notarised."""
        if self.origin is None or actor.party_id not in notaries:
            raise NotANotaryError(
                f"party {actor.party_id} is not a notary of the market this agreement comes from"
            )
        if self.in_force_revision is None or self.status is not AgreementStatus.IN_FORCE:
            raise AgreementNotInForceError(
                f"only an agreement in force is notarised; this one is {self.status.value}"
            )
        revision = self.in_force_revision
        if key.party_id != actor.party_id:
            raise SigningKeyNotOwnedError(f"key {key.key_id} belongs to another party")
        if any(n.party_id == actor.party_id and n.revision == revision for n in self.notarisations):
            raise AlreadyNotarisedError(
                f"party {actor.party_id} notarised revision {revision} already"
            )
        if not signature_is_valid(key.public_key, signature, self.payload(revision)):
            raise InvalidSignatureError(
                f"the signature does not verify for the signing payload of revision "
                f"{revision} under key {key.key_id}"
            )
        self._notarise(actor=actor, revision=revision, key_id=key.key_id, signature=signature)
        return revision

    @event(Notarised)
    def _notarise(self, actor: Actor, revision: int, key_id: str, signature: bytes) -> None:
        self.notarisations.append(Notarisation(actor.party_id, key_id, revision, signature))

    def _close_pending_amendment(self) -> None:
        """An agreement that ends takes no amendment any more: a pending one is rejected."""
        if self.pending_amendment is not None:
            self._set_state(self.pending_amendment, RevisionState.REJECTED)
            self.pending_amendment = None

    # --------------------------------------------------------------- helpers

    def _add_revision(
        self,
        kind: RevisionKind,
        actor: Actor,
        content: Content,
        party_sectors: Mapping[str, Sector],
        rationale: str | None,
    ) -> None:
        self.commitment_counter = max(
            [self.commitment_counter] + [_commitment_number(c.id) for c in content.commitments]
        )
        self.revisions.append(
            Revision(
                number=len(self.revisions) + 1,
                kind=kind,
                content=content,
                party_sectors=dict(party_sectors),
                rationale=rationale,
                author=actor,
                content_hash=content_hash(content),
            )
        )

    def _supersede_latest(self) -> None:
        self._set_state(len(self.revisions), RevisionState.SUPERSEDED)

    def _set_state(self, number: int, state: RevisionState) -> None:
        self.revisions[number - 1] = replace(self.revisions[number - 1], state=state)

    def _require_status(self, status: AgreementStatus, action: str) -> None:
        if self.status is status:
            return
        error = (
            AgreementNotProposedError
            if status is AgreementStatus.PROPOSED
            else AgreementNotInForceError
        )
        raise error(f"cannot {action} an agreement that is {self.status.value}")

    def _require_party(self, actor: Actor, parties: tuple[str, ...]) -> None:
        if actor.party_id not in parties:
            raise NotAPartyError(f"party {actor.party_id} is not a party of this agreement")


def _commitment_number(commitment_id: str) -> int:
    digits = commitment_id[1:]
    return int(digits) if commitment_id.startswith("C") and digits.isdigit() else 0


def _assign_commitment_ids(
    draft: ContentDraft, *, existing: Content | None, counter: int
) -> Content:
    """Turn a draft into content: keep ids that name existing commitments, number new ones."""
    known = {c.id for c in existing.commitments} if existing else set()
    commitments = []
    for item in draft.commitments:
        if item.id is not None and item.id in known:
            commitment_id = item.id
        elif item.id is not None:
            raise CommitmentNotFoundError(
                f"commitment id {item.id} is not a commitment of this agreement; "
                "leave the id out for a new commitment"
            )
        else:
            counter += 1
            commitment_id = f"C{counter}"
        commitments.append(
            Commitment(
                id=commitment_id,
                debtor=item.debtor,
                beneficiary=item.beneficiary,
                kind=CommitmentKind(item.kind),
                quantity=parse_quantity(item.quantity),
                unit=item.unit,
                description=item.description,
                due_on=item.due_on,
            )
        )
    return Content(
        title=draft.title,
        purpose=draft.purpose,
        parties=tuple(draft.parties),
        terms=draft.terms,
        commitments=tuple(commitments),
        publication=draft.publication,
    )


def _sectors_for(content: Content, party_sectors: Mapping[str, Sector]) -> dict[str, Sector]:
    missing = [p for p in content.parties if p not in party_sectors]
    if missing:
        raise InvalidInputError(f"sectors unknown for parties {', '.join(missing)}")
    return {p: party_sectors[p] for p in content.parties}


def fulfilment_ledger(events: Iterable[object]) -> dict[str, Fulfilment]:
    """Every fulfilment of an agreement with its settlement, folded from its events.

    Give it the agreement's events in version order (any others are passed over); the
    result holds each recorded delivery, by id, as its last event left it.
    """
    ledger: dict[str, Fulfilment] = {}
    for item in events:
        match item:
            case Agreement.FulfilmentRecorded():
                ledger[item.fulfilment_id] = Fulfilment(
                    id=item.fulfilment_id,
                    commitment_id=item.commitment_id,
                    debtor=item.actor.party_id,
                    quantity=item.quantity,
                    delivered_on=item.delivered_on,
                    note=item.note,
                    evidence=item.evidence,
                    recorded_by=item.actor,
                )
            case Agreement.FulfilmentConfirmed():
                ledger[item.fulfilment_id] = replace(
                    ledger[item.fulfilment_id],
                    status=FulfilmentStatus.CONFIRMED,
                    settled_by=item.actor,
                )
            case Agreement.FulfilmentDisputed():
                ledger[item.fulfilment_id] = replace(
                    ledger[item.fulfilment_id],
                    status=FulfilmentStatus.DISPUTED,
                    settled_by=item.actor,
                    reason=item.reason,
                )
    return ledger
