"""A plain model of one agreement's rules, kept beside the aggregate to predict its answers.

The model is deliberately naive: sets, dicts and the order in which the product brief lists
the checks. Each `expect_*` function returns the DomainError subclass the aggregate must raise,
or None when the command must be accepted; each `apply_*` method records an accepted command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TypeVar

from hypothesis import strategies as st

from tris.domain.agreement import (
    AgreementStatus,
    Evidence,
    FulfilmentStatus,
    RevisionKind,
    RevisionState,
)
from tris.domain.errors import (
    AgreementNotInForceError,
    AgreementNotProposedError,
    AlreadySignedError,
    AmendmentPendingError,
    CommitmentAlreadyFulfilledError,
    CommitmentNotFoundError,
    CommitmentPartyError,
    DomainError,
    FulfilmentAlreadySettledError,
    FulfilmentNotFoundError,
    InvalidContentError,
    InvalidInputError,
    InvalidQuantityError,
    InvalidSignatureError,
    InvalidTermsError,
    MissingReasonError,
    NoPendingAmendmentError,
    NotAPartyError,
    NotDebtorError,
    NotProposerError,
    ProposerNotAPartyError,
    RevisionDeclinedError,
    RevisionNotFoundError,
    SelfConfirmationError,
    SigningKeyNotOwnedError,
    StaleRevisionError,
    TooFewPartiesError,
)
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Terms

Expected = type[DomainError] | None
T = TypeVar("T")

# Completing an agreement rejects a pending amendment, as terminating does.
COMPLETION_REJECTS_PENDING_AMENDMENT = True

# Quantities the domain must refuse; every generated valid quantity is outside this list.
INVALID_QUANTITIES = ("0", "-2", "0.000", "abc", "NaN", "Infinity", "1.0000001", "1e17", "")

valid_quantities = st.one_of(
    st.integers(min_value=1, max_value=40).map(str),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99"), places=2).map(str),
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("2"), places=6).map(str),
)
quantities = st.one_of(valid_quantities, st.sampled_from(INVALID_QUANTITIES))
reasons = st.sampled_from(["Zu teuer", "Nicht abgestimmt", "   ", "", "Ende der Förderung"])
days = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))
optional_days = st.one_of(st.none(), days)
VALID_EVIDENCE = Evidence("https://example.org/beleg.pdf", "ab" * 32)
evidences = st.sampled_from(
    [
        None,
        VALID_EVIDENCE,
        Evidence("ftp://example.org/beleg.pdf", "ab" * 32),
        Evidence("https://example.org/beleg.pdf", "xyz"),
    ]
)


def pick(draw: Callable[[st.SearchStrategy[int]], int], items: Sequence[T]) -> T:
    """One of `items` (shrinking towards the first), cheaper than a fresh `sampled_from`."""
    return items[draw(st.integers(0, len(items) - 1))]


def reason_is_missing(reason: str) -> bool:
    """True when the domain must refuse this reason or rationale as empty."""
    return not reason.strip()


def evidence_is_invalid(evidence: Evidence | None) -> bool:
    """True for the malformed evidence values of `evidences`."""
    return evidence is not None and evidence != VALID_EVIDENCE


@dataclass
class RevisionModel:
    """What the model knows of one revision."""

    kind: RevisionKind
    parties: tuple[str, ...]
    commitments: dict[str, tuple[str, Decimal]]  # id -> (debtor, quantity)
    state: RevisionState = RevisionState.OPEN
    signed: set[str] = field(default_factory=set)
    declined: set[str] = field(default_factory=set)

    def fully_signed(self, also: tuple[str, ...] = ()) -> bool:
        """Every party of the revision, and every party in `also`, signed it."""
        return all(p in self.signed for p in (*self.parties, *also))


@dataclass
class FulfilmentModel:
    """What the model knows of one recorded delivery."""

    commitment_id: str
    debtor: str
    quantity: Decimal
    status: FulfilmentStatus = FulfilmentStatus.RECORDED


@dataclass
class AgreementModel:
    """The naive model of one agreement."""

    proposer: str
    registered: frozenset[str]
    revisions: list[RevisionModel]
    commitment_counter: int
    status: AgreementStatus = AgreementStatus.PROPOSED
    in_force: int | None = None
    pending: int | None = None
    fulfilments: dict[str, FulfilmentModel] = field(default_factory=dict)
    confirmed: dict[str, Decimal] = field(default_factory=dict)
    ever_in_force: set[int] = field(default_factory=set)
    # Who had to sign each revision that came in force: its parties, and for an amendment
    # also the parties of the revision it replaced.
    consent: dict[int, set[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries

    @property
    def latest(self) -> RevisionModel:
        """The latest revision."""
        return self.revisions[-1]

    @property
    def latest_number(self) -> int:
        """The latest revision's number."""
        return len(self.revisions)

    @property
    def governing(self) -> RevisionModel:
        """The revision in force, else the latest."""
        return self.revisions[self.in_force - 1] if self.in_force else self.latest

    @property
    def signers(self) -> tuple[str, ...]:
        """Who must sign the latest revision: its parties, and while an amendment is
        pending, every party of the revision in force as well (amendments need everyone)."""
        if self.pending is None or self.in_force is None:
            return self.latest.parties
        return (*self.latest.parties, *self.governing.parties)

    def signable(self) -> bool:
        """True when some revision may be signed now."""
        return self.status is AgreementStatus.PROPOSED or (
            self.status is AgreementStatus.IN_FORCE and self.pending is not None
        )

    def all_fulfilled(self) -> bool:
        """Every commitment of the revision in force has its quantity confirmed."""
        return all(
            self.confirmed.get(cid, Decimal(0)) >= quantity
            for cid, (_, quantity) in self.governing.commitments.items()
        )

    # ----------------------------------------------------------- expectations

    def expect_revise(self, actor: str, draft: ContentDraft, rationale: str) -> Expected:
        """The error `Agreement.revise` must raise, or None."""
        if self.status is not AgreementStatus.PROPOSED:
            return AgreementNotProposedError
        if actor not in self.latest.parties:
            return NotAPartyError
        if reason_is_missing(rationale):
            return MissingReasonError
        return draft_error(
            draft, actor, known_ids=set(self.latest.commitments), registered=self.registered
        )

    def expect_amendment(self, actor: str, draft: ContentDraft, rationale: str) -> Expected:
        """The error `Agreement.propose_amendment` must raise, or None."""
        if self.status is not AgreementStatus.IN_FORCE:
            return AgreementNotInForceError
        if actor not in self.governing.parties:
            return NotAPartyError
        if self.pending is not None:
            return AmendmentPendingError
        if reason_is_missing(rationale):
            return MissingReasonError
        return draft_error(
            draft, actor, known_ids=set(self.governing.commitments), registered=self.registered
        )

    def expect_sign(
        self, actor: str, revision: int, key_owner: str, signature_valid: bool
    ) -> Expected:
        """The error `Agreement.sign` must raise once the key was obtained, or None."""
        if self.status is AgreementStatus.IN_FORCE and self.pending is None:
            return NoPendingAmendmentError
        if not self.signable():
            return AgreementNotProposedError
        if not 1 <= revision <= self.latest_number:
            return RevisionNotFoundError
        if revision != self.latest_number:
            return StaleRevisionError
        if actor not in self.signers:
            return NotAPartyError
        if key_owner != actor:
            return SigningKeyNotOwnedError
        if actor in self.latest.signed:
            return AlreadySignedError
        if actor in self.latest.declined:
            return RevisionDeclinedError
        if not signature_valid:
            return InvalidSignatureError
        return None

    def expect_decline(self, actor: str, reason: str) -> Expected:
        """The error `Agreement.decline` must raise, or None."""
        if self.status is not AgreementStatus.PROPOSED:
            return AgreementNotProposedError
        if actor not in self.latest.parties:
            return NotAPartyError
        if reason_is_missing(reason):
            return MissingReasonError
        if actor in self.latest.signed:
            return AlreadySignedError
        if actor in self.latest.declined:
            return RevisionDeclinedError
        return None

    def expect_withdraw(self, actor: str, reason: str) -> Expected:
        """The error `Agreement.withdraw` must raise, or None."""
        if self.status is not AgreementStatus.PROPOSED:
            return AgreementNotProposedError
        if actor not in self.latest.parties:
            return NotAPartyError
        if actor != self.proposer:
            return NotProposerError
        if reason_is_missing(reason):
            return MissingReasonError
        return None

    def expect_reject(self, actor: str, revision: int, reason: str) -> Expected:
        """The error `Agreement.reject_amendment` must raise, or None."""
        if self.status is not AgreementStatus.IN_FORCE:
            return AgreementNotInForceError
        if self.pending is None or self.pending != revision:
            return NoPendingAmendmentError
        if actor not in self.governing.parties and actor not in self.latest.parties:
            return NotAPartyError
        if reason_is_missing(reason):
            return MissingReasonError
        return None

    def expect_record(
        self, actor: str, commitment_id: str, quantity: str, evidence: Evidence | None
    ) -> Expected:
        """The error `Agreement.record_fulfilment` must raise, or None."""
        if self.status is not AgreementStatus.IN_FORCE:
            return AgreementNotInForceError
        if actor not in self.governing.parties:
            return NotAPartyError
        commitment = self.governing.commitments.get(commitment_id)
        if commitment is None:
            return CommitmentNotFoundError
        debtor, owed = commitment
        if debtor != actor:
            return NotDebtorError
        if self.confirmed.get(commitment_id, Decimal(0)) >= owed:
            return CommitmentAlreadyFulfilledError
        if quantity in INVALID_QUANTITIES:
            return InvalidQuantityError
        if evidence_is_invalid(evidence):
            return InvalidInputError
        return None

    def expect_settle(self, actor: str, fulfilment_id: str, reason: str | None) -> Expected:
        """The error confirming (reason None) or disputing a fulfilment must raise, or None."""
        if self.status is not AgreementStatus.IN_FORCE:
            return AgreementNotInForceError
        if actor not in self.governing.parties:
            return NotAPartyError
        fulfilment = self.fulfilments.get(fulfilment_id)
        if fulfilment is None:
            return FulfilmentNotFoundError
        if fulfilment.status is not FulfilmentStatus.RECORDED:
            return FulfilmentAlreadySettledError
        if fulfilment.debtor == actor:
            return SelfConfirmationError
        if reason is not None and reason_is_missing(reason):
            return MissingReasonError
        return None

    def expect_terminate(self, actor: str, reason: str) -> Expected:
        """The error `Agreement.terminate` must raise, or None."""
        if self.status is not AgreementStatus.IN_FORCE:
            return AgreementNotInForceError
        if actor not in self.governing.parties:
            return NotAPartyError
        if reason_is_missing(reason):
            return MissingReasonError
        return None

    # ---------------------------------------------------------------- changes

    def add_revision(self, kind: RevisionKind, draft: ContentDraft) -> None:
        """Record a new revision made from an accepted draft, numbering new commitments."""
        commitments: dict[str, tuple[str, Decimal]] = {}
        for item in draft.commitments:
            if item.id is None:
                self.commitment_counter += 1
                commitment_id = f"C{self.commitment_counter}"
            else:
                commitment_id = item.id
            commitments[commitment_id] = (item.debtor, Decimal(str(item.quantity)))
        self.revisions.append(RevisionModel(kind, tuple(draft.parties), commitments))

    def revise(self, draft: ContentDraft) -> None:
        """An accepted revision supersedes the latest one."""
        self.latest.state = RevisionState.SUPERSEDED
        self.add_revision(RevisionKind.REVISION, draft)

    def propose_amendment(self, draft: ContentDraft) -> None:
        """An accepted amendment becomes the pending revision."""
        self.add_revision(RevisionKind.AMENDMENT, draft)
        self.pending = self.latest_number

    def sign(self, actor: str) -> str | None:
        """Record a signature; return 'concluded', 'adopted' or 'completed' if it took effect."""
        latest = self.latest
        latest.signed.add(actor)
        if not latest.fully_signed(self.signers) or latest.declined:
            return None
        number = self.latest_number
        self.consent[number] = set(self.signers)
        if self.status is AgreementStatus.PROPOSED:
            self.status = AgreementStatus.IN_FORCE
            outcome = "concluded"
        else:
            assert self.in_force is not None
            self.revisions[self.in_force - 1].state = RevisionState.SUPERSEDED
            self.pending = None
            outcome = "adopted"
        latest.state = RevisionState.IN_FORCE
        self.in_force = number
        self.ever_in_force.add(number)
        if outcome == "adopted" and self.all_fulfilled():
            self.status = AgreementStatus.COMPLETED
            return "completed"
        return outcome

    def reject(self) -> None:
        """The pending amendment was rejected."""
        assert self.pending is not None
        self.revisions[self.pending - 1].state = RevisionState.REJECTED
        self.pending = None

    def terminate(self) -> None:
        """The agreement was terminated; a pending amendment dies with it."""
        self.status = AgreementStatus.TERMINATED
        if self.pending is not None:
            self.reject()

    def confirm(self, fulfilment_id: str) -> bool:
        """Record a confirmation; return True when it completed the agreement."""
        fulfilment = self.fulfilments[fulfilment_id]
        fulfilment.status = FulfilmentStatus.CONFIRMED
        self.confirmed[fulfilment.commitment_id] = (
            self.confirmed.get(fulfilment.commitment_id, Decimal(0)) + fulfilment.quantity
        )
        if self.all_fulfilled():
            self.status = AgreementStatus.COMPLETED
            if COMPLETION_REJECTS_PENDING_AMENDMENT and self.pending is not None:
                self.reject()
            return True
        return False


def draft_error(
    draft: ContentDraft, author: str, *, known_ids: set[str], registered: frozenset[str]
) -> Expected:
    """The error a content draft by `author` must raise, checked in the documented order."""
    if not draft.title.strip():
        return InvalidContentError
    parties = list(draft.parties)
    if len(set(parties)) != len(parties) or len(parties) < 2:
        return TooFewPartiesError
    if author not in parties:
        return ProposerNotAPartyError
    terms = draft.terms
    if terms.starts_on and terms.ends_on and terms.ends_on < terms.starts_on:
        return InvalidTermsError
    if not draft.commitments:
        return InvalidContentError
    seen: set[str] = set()
    for item in draft.commitments:
        if item.debtor not in parties:
            return CommitmentPartyError
        if item.beneficiary is not None and item.beneficiary not in parties:
            return CommitmentPartyError
        if item.beneficiary == item.debtor:
            return CommitmentPartyError
        if item.quantity in INVALID_QUANTITIES:
            return InvalidQuantityError
        if item.id is not None:
            if item.id in seen:
                return InvalidContentError
            seen.add(item.id)
    for item in draft.commitments:
        if item.id is not None and item.id not in known_ids:
            return CommitmentNotFoundError
    if not set(parties) <= registered:
        return InvalidInputError
    return None


KINDS = tuple(CommitmentKind)
FLAWS = (
    "blank_title",
    "duplicate_party",
    "single_party",
    "unregistered_party",
    "author_missing",
    "bad_terms",
    "no_commitments",
    "foreign_debtor",
    "foreign_beneficiary",
    "owes_itself",
    "bad_quantity",
    "duplicate_id",
    "unknown_id",
)


@st.composite
def content_drafts(
    draw: st.DrawFn,
    *,
    author: str,
    pool: tuple[str, ...],
    outsider: str,
    base_ids: tuple[str, ...],
    other_ids: tuple[str, ...],
    confirmed: Mapping[str, Decimal] | None = None,
) -> ContentDraft:
    """A draft, valid two times in three, otherwise with one flaw a client might make.

    A kept commitment may be cut to its `confirmed` quantity, so that amendments can leave
    every commitment fulfilled. The flaw only steers generation; `draft_error` judges the
    result on its own.
    """
    flaw = pick(draw, ("none", "none", *FLAWS))
    parties: list[str] = []
    rest = list(pool)
    for _ in range(draw(st.integers(2, len(pool)))):
        parties.append(pick(draw, rest))
        rest.remove(parties[-1])
    if author in pool and author not in parties and flaw != "author_missing":
        parties[draw(st.integers(0, len(parties) - 1))] = author
    if flaw == "author_missing" and author in parties and len(pool) > len(parties):
        parties[parties.index(author)] = next(p for p in pool if p not in parties)
    size = 0 if flaw == "no_commitments" else draw(st.integers(1, 3))
    remaining = list(base_ids)
    commitments = []
    for _ in range(size):
        kept_id = None
        keep: bool = draw(st.booleans()) if remaining else False
        if keep:
            kept_id = pick(draw, remaining)
            remaining.remove(kept_id)
        quantity = valid_quantities
        if kept_id and confirmed and confirmed.get(kept_id):
            quantity = st.one_of(st.just(str(confirmed[kept_id])), valid_quantities)
        debtor = pick(draw, parties)
        others = [p for p in parties if p != debtor]
        beneficiary = pick(draw, [None, *others])
        commitments.append(
            CommitmentDraft(
                debtor=debtor,
                beneficiary=beneficiary,
                kind=pick(draw, KINDS),
                quantity=draw(quantity),
                unit=pick(draw, ("hours", "days", "items", "EUR")),
                description="Kochen mit Azubis",
                due_on=draw(optional_days),
                id=kept_id,
            )
        )
    starts_on = draw(optional_days)
    ends_on = draw(optional_days)
    if starts_on and ends_on and ends_on < starts_on and flaw != "bad_terms":
        starts_on, ends_on = ends_on, starts_on
    title = "Kiezküche Moabit"
    if flaw == "blank_title":
        title = pick(draw, ("", "   "))
    elif flaw == "duplicate_party":
        parties.append(pick(draw, parties))
    elif flaw == "single_party":
        parties = parties[:1]
    elif flaw == "unregistered_party":
        parties.append(outsider)
    elif flaw == "bad_terms":
        starts_on, ends_on = date(2027, 1, 2), date(2026, 12, 31)
    elif commitments and flaw != "none":
        commitments = _spoil(draw, flaw, commitments, pool, outsider, other_ids)
    return ContentDraft(
        title=title,
        purpose="Gemeinsam ein Mittagessen für Nachbarn organisieren",
        parties=tuple(parties),
        terms=Terms("Nach dem Marktplatz-Prinzip, ohne Geld", starts_on, ends_on),
        commitments=tuple(commitments),
    )


def _spoil(
    draw: st.DrawFn,
    flaw: str,
    commitments: list[CommitmentDraft],
    pool: tuple[str, ...],
    outsider: str,
    other_ids: tuple[str, ...],
) -> list[CommitmentDraft]:
    """Give one commitment of a draft the flaw named."""
    index = draw(st.integers(0, len(commitments) - 1))
    item = commitments[index]
    strangers = (*pool, outsider)
    if flaw == "foreign_debtor":
        item = replace(item, debtor=pick(draw, strangers))
    elif flaw == "foreign_beneficiary":
        item = replace(item, beneficiary=pick(draw, strangers))
    elif flaw == "owes_itself":
        item = replace(item, beneficiary=item.debtor)
    elif flaw == "bad_quantity":
        item = replace(item, quantity=pick(draw, INVALID_QUANTITIES))
    elif flaw == "duplicate_id":
        first = commitments[0].id or pick(draw, (*other_ids, "C1"))
        commitments[0] = replace(commitments[0], id=first)
        item = replace(item, id=first)
    elif flaw == "unknown_id":
        item = replace(item, id=pick(draw, (*other_ids, "C999", "X1")))
    commitments[index] = item
    return commitments
