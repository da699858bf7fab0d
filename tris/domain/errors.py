"""The root of TRIS's error tree, and the domain's part of it: every broken rule, by name.

Everything TRIS raises is a `TrisError`; the whole tree, with the application's, storage's
and configuration's subtrees, is drawn in `tris/application/errors.py`. The domain's part::

    TrisError                            root of every error TRIS raises
    └── DomainError                      a rule of the domain was broken
        ├── InvalidInputError            a value is malformed (422 over HTTP)
        │   ├── InvalidQuantityError     quantity not a decimal > 0
        │   ├── InvalidContentError      agreement content breaks a rule
        │   │   ├── TooFewPartiesError   fewer than two distinct parties
        │   │   ├── ProposerNotAPartyError  the proposer is not among the parties
        │   │   ├── CommitmentPartyError     debtor/beneficiary not a party of it
        │   │   ├── InvalidTermsError    ends_on before starts_on, empty text
        │   │   ├── MoneyAtMarketError   funding or a currency unit at a market (money is taboo)
        │   │   └── DealPartyError       the offer's or need's party is not a party of the deal
        │   ├── InvalidSigningKeyError   a public key is not 32 raw bytes
        │   ├── InvalidKeyProofError     no proof of possession, or one that does not verify
        │   ├── InvalidTextError         control characters, lone surrogates, a date out of range
        │   ├── InvalidPartyDetailsError  empty name, unknown sector, bad website
        │   ├── MissingReasonError       a reason or rationale is empty
        │   ├── InvalidMarketError       a market's format, times or lists break a rule
        │   ├── InvalidMembershipError   a membership's role, period or basis breaks a rule
        │   └── BundleError              an evidence bundle breaks its format (tris verify)
        ├── NotFoundError                something named does not exist (404)
        │   ├── PartyNotFoundError
        │   ├── AgreementNotFoundError
        │   ├── RevisionNotFoundError
        │   ├── CommitmentNotFoundError
        │   ├── FulfilmentNotFoundError
        │   ├── SigningKeyNotFoundError
        │   ├── PersonNotFoundError
        │   ├── MarketNotFoundError
        │   ├── PostingNotFoundError     no such offer or need at this market
        │   └── MembershipNotFoundError  no such membership of this network
        ├── PermissionDeniedError        the actor may not do this (403)
        │   ├── NotAPartyError           the actor's party is not a party of it
        │   ├── NotProposerError         only the proposer may withdraw
        │   ├── NotDebtorError           only the debtor records a fulfilment
        │   ├── SelfConfirmationError    the debtor cannot confirm its own delivery
        │   ├── SigningKeyNotOwnedError  the key belongs to another party
        │   ├── NotAnOrganiserError      only the market's organisers run it
        │   ├── NotAParticipantError     only participants post, each for itself
        │   ├── NotABrokerError          a deal needs a broker or a participant among its parties
        │   ├── NotANotaryError          only a notary of the agreement's market notarises
        │   └── NotAMembershipSideError  only the network, the member (or the other side) acts
        └── ConflictError                the state does not allow it now (409)
            ├── AgreementNotProposedError    needs status `proposed`
            ├── AgreementNotInForceError     needs status `in_force`
            ├── StaleRevisionError           signing a revision that is not the latest
            ├── AlreadySignedError           the party already signed this revision
            ├── RevisionDeclinedError        a party declined this revision
            ├── InvalidSignatureError        signature does not verify for the payload
            ├── SigningKeyRevokedError       the key was revoked
            ├── AmendmentPendingError        one amendment is already pending
            ├── NoPendingAmendmentError      no such amendment is pending
            ├── FulfilmentAlreadySettledError  confirmed or disputed already
            ├── CommitmentAlreadyFulfilledError
            ├── PartyDeactivatedError        a deactivated party cannot act or join
            ├── DuplicateSigningKeyError     the same public key is registered already
            ├── SigningKeyTakenError         another party registered this public key
            ├── MarketStatusError            the market's status does not allow it now
            │   └── MarketNotOpenError       deals only while the market is open
            ├── AlreadyParticipantError      the party takes part already
            ├── PostingNotOpenError          the offer or need is matched or withdrawn
            ├── AlreadyNotarisedError        this notary notarised this revision already
            ├── NotANetworkError             the party is not registered as a network
            ├── MembershipStatusError        the membership's status does not allow it now
            └── MembershipCycleError         a network would be a member of itself
"""

from __future__ import annotations


class TrisError(Exception):
    """The root of every error TRIS raises: a title for its kind, a detail for this case."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class DomainError(TrisError):
    """A rule of the TRIS domain was broken; the message says which and why."""

    title = "Domain rule broken"


class InvalidInputError(DomainError):
    """A value given to the domain is malformed."""

    title = "Invalid input"


class InvalidQuantityError(InvalidInputError):
    """A quantity is not a finite decimal greater than zero."""

    title = "Invalid quantity"


class InvalidContentError(InvalidInputError):
    """An agreement's content breaks a rule."""

    title = "Invalid agreement content"


class TooFewPartiesError(InvalidContentError):
    """An agreement needs at least two distinct parties."""

    title = "Too few parties"


class ProposerNotAPartyError(InvalidContentError):
    """The party proposing or revising content must be one of its parties."""

    title = "Proposer is not a party"


class CommitmentPartyError(InvalidContentError):
    """A commitment's debtor or beneficiary is not a party of the agreement."""

    title = "Commitment names a non-party"


class InvalidTermsError(InvalidContentError):
    """The terms are inconsistent (for example ending before they start)."""

    title = "Invalid terms"


class InvalidSigningKeyError(InvalidInputError):
    """A public signing key is not a raw 32-byte Ed25519 key."""

    title = "Invalid signing key"


class InvalidKeyProofError(InvalidInputError):
    """A key registration lacks its proof of possession, or the proof does not verify."""

    title = "Invalid proof of possession"


class InvalidTextError(InvalidInputError):
    """Text with characters no store should hold (control characters, lone surrogates), or a
    date outside the years TRIS accepts."""

    title = "Invalid text"


class InvalidPartyDetailsError(InvalidInputError):
    """A party's details are malformed."""

    title = "Invalid party details"


class MissingReasonError(InvalidInputError):
    """A reason or rationale is required and was empty."""

    title = "Reason required"


class NotFoundError(DomainError):
    """Something named by the caller does not exist."""

    title = "Not found"


class PartyNotFoundError(NotFoundError):
    """No party with this id is registered."""

    title = "Party not found"


class AgreementNotFoundError(NotFoundError):
    """No agreement with this id exists."""

    title = "Agreement not found"


class RevisionNotFoundError(NotFoundError):
    """The agreement has no revision with this number."""

    title = "Revision not found"


class CommitmentNotFoundError(NotFoundError):
    """The revision in force has no commitment with this id."""

    title = "Commitment not found"


class FulfilmentNotFoundError(NotFoundError):
    """The agreement has no fulfilment with this id."""

    title = "Fulfilment not found"


class SigningKeyNotFoundError(NotFoundError):
    """The party has no signing key with this id."""

    title = "Signing key not found"


class PersonNotFoundError(NotFoundError):
    """No contact person with this id is on record."""

    title = "Person not found"


class PermissionDeniedError(DomainError):
    """The acting party may not do this."""

    title = "Not permitted"


class NotAPartyError(PermissionDeniedError):
    """The acting party is not a party of the agreement."""

    title = "Not a party"


class NotProposerError(PermissionDeniedError):
    """Only the proposer may withdraw a proposal."""

    title = "Not the proposer"


class NotDebtorError(PermissionDeniedError):
    """Only a commitment's debtor may record a fulfilment of it."""

    title = "Not the debtor"


class SelfConfirmationError(PermissionDeniedError):
    """A fulfilment must be confirmed or disputed by another party than its debtor."""

    title = "Cannot confirm own fulfilment"


class SigningKeyNotOwnedError(PermissionDeniedError):
    """A party signs only with its own keys."""

    title = "Signing key of another party"


class ConflictError(DomainError):
    """The current state does not allow this command."""

    title = "Conflict with the current state"


class AgreementNotProposedError(ConflictError):
    """The command needs the agreement to be `proposed`."""

    title = "Agreement is not proposed"


class AgreementNotInForceError(ConflictError):
    """The command needs the agreement to be `in_force`."""

    title = "Agreement is not in force"


class StaleRevisionError(ConflictError):
    """Only the latest revision can be signed."""

    title = "Stale revision"


class AlreadySignedError(ConflictError):
    """The party has signed this revision already."""

    title = "Already signed"


class RevisionDeclinedError(ConflictError):
    """The revision was declined; it can no longer be signed by the decliner."""

    title = "Revision declined"


class InvalidSignatureError(ConflictError):
    """The signature does not verify for the revision's signing payload and key."""

    title = "Invalid signature"


class SigningKeyRevokedError(ConflictError):
    """The signing key was revoked and signs nothing any more."""

    title = "Signing key revoked"


class AmendmentPendingError(ConflictError):
    """Only one amendment may be pending at a time."""

    title = "Amendment pending"


class NoPendingAmendmentError(ConflictError):
    """There is no pending amendment with this revision number."""

    title = "No pending amendment"


class FulfilmentAlreadySettledError(ConflictError):
    """The fulfilment was confirmed or disputed already."""

    title = "Fulfilment already settled"


class CommitmentAlreadyFulfilledError(ConflictError):
    """The commitment is fulfilled; no further deliveries are recorded against it."""

    title = "Commitment already fulfilled"


class PartyDeactivatedError(ConflictError):
    """A deactivated party can neither act nor join agreements."""

    title = "Party deactivated"


class DuplicateSigningKeyError(ConflictError):
    """This public key is registered for the party already."""

    title = "Duplicate signing key"


class SigningKeyTakenError(ConflictError):
    """Another party has registered this public key: a key speaks for one party only."""

    title = "Signing key registered by another party"


class MoneyAtMarketError(InvalidContentError):
    """Money is taboo at a market: no `funding` and no currency unit (ISO 4217)."""

    title = "Money at a market"


class DealPartyError(InvalidContentError):
    """A deal's parties must include the party of its offer and of its need."""

    title = "Deal party missing"


class InvalidMarketError(InvalidInputError):
    """A market's title, format, times or lists break a rule."""

    title = "Invalid market"


class MarketNotFoundError(NotFoundError):
    """No market with this id."""

    title = "Market not found"


class PostingNotFoundError(NotFoundError):
    """No offer or need with this id at this market."""

    title = "Offer or need not found"


class NotAnOrganiserError(PermissionDeniedError):
    """Only the market's organisers admit participants, open, close or cancel it."""

    title = "Not an organiser"


class NotAParticipantError(PermissionDeniedError):
    """Only a market's participants post offers and needs, each for itself."""

    title = "Not a participant"


class NotABrokerError(PermissionDeniedError):
    """A deal is made by a broker of the market or by a participant that is one of its
    parties."""

    title = "Not a broker"


class NotANotaryError(PermissionDeniedError):
    """Only a notary of the market an agreement comes from notarises it."""

    title = "Not a notary"


class MarketStatusError(ConflictError):
    """The market's status (planned, open, closed, cancelled) does not allow this now."""

    title = "Market status"


class MarketNotOpenError(MarketStatusError):
    """Deals are made only while the market is open."""

    title = "Market not open"


class AlreadyParticipantError(ConflictError):
    """The party takes part in this market already."""

    title = "Already a participant"


class PostingNotOpenError(ConflictError):
    """The offer or need is matched (at most once) or withdrawn already."""

    title = "Offer or need not open"


class AlreadyNotarisedError(ConflictError):
    """This notary notarised this revision already."""

    title = "Already notarised"


class InvalidMembershipError(InvalidInputError):
    """A membership's role, validity period or basis breaks a rule."""

    title = "Invalid membership"


class MembershipNotFoundError(NotFoundError):
    """No membership with this id in this network."""

    title = "Membership not found"


class NotAMembershipSideError(PermissionDeniedError):
    """Only the network or the member asks for, ends or corrects a membership, and only the
    side that did not ask accepts or rejects it."""

    title = "Not a side of the membership"


class NotANetworkError(ConflictError):
    """Members join a party registered as a network (`network: true`)."""

    title = "Not a network"


class MembershipStatusError(ConflictError):
    """The membership's status (pending, active, rejected, ended) does not allow this now."""

    title = "Membership status"


class MembershipCycleError(ConflictError):
    """The membership would make a network a member of itself, directly or through other
    networks, on some day."""

    title = "Membership cycle"


class BundleError(InvalidInputError):
    """An evidence bundle breaks a rule of its format or of what it proves."""

    title = "Invalid evidence bundle"
