"""The event store as the use cases see it: load aggregates, run commands once, save atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import get_topic

from tris.application.cache import DEFAULT_MAX_BYTES, AggregateCache, Borrowed
from tris.application.errors import (
    ApplicationError,
    ConcurrentUpdateError,
    IdempotencyInFlightError,
    IdempotencyKeyReusedError,
    StaleReadError,
    UnverifiedKeptStateError,
    VersionMismatchError,
)
from tris.domain.agreement import Agreement, Fulfilment, fulfilment_ledger
from tris.domain.errors import (
    AgreementNotFoundError,
    DomainError,
    MarketNotFoundError,
    MembershipNotFoundError,
    NotFoundError,
    PartyNotFoundError,
    PostingNotFoundError,
    SigningKeyTakenError,
)
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting
from tris.domain.networks.membership import GRAPH_ID, Membership, MembershipGraph
from tris.domain.party import Party
from tris.domain.values import Actor
from tris.storage.eventlog import EventLog
from tris.storage.hashes import EventHashes
from tris.storage.idempotency import DEFAULT_TTL_SECONDS, IdempotencyRecord, IdempotencyRecords
from tris.storage.key_owners import KeyClaim, KeyOwners
from tris.storage.schema import STALE_READ

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class IdempotencyRequest:
    """What a client asked for under an Idempotency-Key: key, request fingerprint, status."""

    key: str
    fingerprint: str
    status: int


@dataclass(frozen=True)
class CommandContext:
    """Who runs a command, the version they expect (If-Match), and its idempotency key."""

    actor: Actor
    expected_version: int | None = None
    idempotency: IdempotencyRequest | None = None


@dataclass(frozen=True)
class Outcome:
    """A command's plain result, and whether it is the stored answer to an earlier request."""

    body: dict[str, Any]
    status: int = 200
    replayed: bool = False
    position: int | None = None


FULFILMENT_TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Agreement.FulfilmentRecorded,
        Agreement.FulfilmentConfirmed,
        Agreement.FulfilmentDisputed,
    )
)


class EventStore:
    """Loads and saves aggregates, with optimistic concurrency and idempotent commands."""

    def __init__(
        self,
        database_url: str,
        *,
        snapshot_interval: int = 50,
        idempotency_ttl_seconds: int = DEFAULT_TTL_SECONDS,
        aggregate_cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.log = EventLog(database_url, snapshot_interval=snapshot_interval)
        self.database = self.log.database
        self.vault = self.log.vault
        self.idempotency = IdempotencyRecords(self.database, idempotency_ttl_seconds)
        self.hashes = EventHashes(self.database)
        self.key_owners = KeyOwners(self.database)
        self._in_flight: set[tuple[str, str]] = set()
        self._in_flight_lock = threading.Lock()
        self._command = threading.local()  # what one command in this thread has loaded
        self._read = threading.local()  # what one `reading` scope in this thread has loaded
        self.cache = AggregateCache(aggregate_cache_bytes)
        # Called after every save with the position of its last event and its events as
        # recorded (each with its position; none when the positions are not known yet).
        self.after_commit: list[Callable[[int | None, Sequence[Recording[UUID]]], None]] = []

    def close(self) -> None:
        """Release connections."""
        self.log.close()

    def claim_registered_keys(self, page: int = 1000) -> int:
        """Record the owner of every key registered in the log but not yet claimed (keys
        registered before claims were kept, or replayed from an export); return how many
        registrations were read. The first party to register a key keeps it."""
        topic = get_topic(Party.SigningKeyRegistered)
        after = self.key_owners.scanned_up_to()
        head = self.log.head()
        read = 0
        while after < head:
            batch = self.log.notifications(after, page, until=head, topics=(topic,))
            events = [self.log.decode(n) for n in batch]
            read += len(events)
            after = batch[-1].id if batch else head
            self.key_owners.claim(key_claims(events), after)
        return read

    # ------------------------------------------------------------------ loading

    def party(self, party_id: str) -> Party:
        """The party with this id, or PartyNotFoundError.

        Within one command a party is loaded once: a signature checks that the signer is
        active and then reads its key, a proposal checks the proposer and every party.
        """
        return self._get(Party, party_id, PartyNotFoundError(f"no party {party_id}"))

    def agreement(self, agreement_id: str, version: int | None = None) -> Agreement:
        """The agreement with this id (at `version` when given), or AgreementNotFoundError."""
        return self._get(
            Agreement,
            agreement_id,
            AgreementNotFoundError(f"no agreement {agreement_id}"),
            version=version,
        )

    def market(self, market_id: str) -> Market:
        """The market with this id, or MarketNotFoundError."""
        return self._get(Market, market_id, MarketNotFoundError(f"no market {market_id}"))

    def posting(self, posting_id: str, what: str = "offer or need") -> Posting:
        """The offer or need with this id, or PostingNotFoundError."""
        return self._get(Posting, posting_id, PostingNotFoundError(f"no {what} {posting_id}"))

    def membership(self, membership_id: str) -> Membership:
        """The membership with this id, or MembershipNotFoundError."""
        return self._get(
            Membership, membership_id, MembershipNotFoundError(f"no membership {membership_id}")
        )

    def membership_graph(self) -> MembershipGraph | None:
        """The aggregate every change of the membership graph writes (None before the first)."""
        graph = self.log.load(GRAPH_ID, None)
        return graph if isinstance(graph, MembershipGraph) else None

    def _get(
        self, kind: type[A], raw_id: str, missing: NotFoundError, version: int | None = None
    ) -> A:
        try:
            aggregate_id = UUID(raw_id)
        except (ValueError, TypeError, AttributeError):
            raise missing from None
        borrowed: dict[UUID, Borrowed] | None = getattr(self._command, "borrowed", None)
        read: dict[UUID, Any] | None = getattr(self._read, "loaded", None)
        if version is not None:
            aggregate = self.log.load(aggregate_id, version)
        elif borrowed is not None:
            aggregate = self._borrow(aggregate_id, borrowed)
        elif read is not None:  # loaded once per `reading` scope
            if aggregate_id not in read:
                read[aggregate_id] = self.log.load(aggregate_id, None)
            aggregate = read[aggregate_id]
        else:
            aggregate = self.log.load(aggregate_id, None)
        if aggregate is None or not isinstance(aggregate, kind):
            raise missing
        return aggregate

    def _borrow(self, aggregate_id: UUID, borrowed: dict[UUID, Borrowed]) -> Any:
        """The command's aggregate: loaded once per command, from the cache when kept."""
        if aggregate_id in borrowed:
            return borrowed[aggregate_id].aggregate
        kept = self.cache.take(aggregate_id) if self._command.cached else None
        if kept is None:
            aggregate, size = self.log.load_sized(aggregate_id)
        else:
            aggregate, size = kept
        if aggregate is not None:
            borrowed[aggregate_id] = Borrowed(
                aggregate, size, aggregate.version, cached=kept is not None
            )
        return aggregate

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A scope in which each aggregate is loaded once, however often it is asked for
        (a page that shows an agreement's view, revisions and history). Only for reads:
        what it loads is never saved, cached or seen by a command."""
        if getattr(self._read, "loaded", None) is not None:
            yield  # already inside one
            return
        self._read.loaded = {}
        try:
            yield
        finally:
            self._read.loaded = None

    def events(self, aggregate_id: UUID) -> list[Any]:
        """All stored events of one aggregate, decoded, in version order."""
        return self.log.events(aggregate_id)

    def fulfilments(self, agreement: Agreement) -> list[Fulfilment]:
        """Every fulfilment of `agreement` as it stands, unsaved changes included.

        The aggregate holds the open ones; when some were settled, the settled ones are
        folded from the stored fulfilment events up to the aggregate's stored version,
        followed by its pending events.
        """
        if agreement.fulfilment_counter == len(agreement.open_fulfilments):
            return list(agreement.open_fulfilments.values())
        pending = agreement.pending_events
        stored = self.database.stored_events(
            agreement.id, FULFILMENT_TOPICS, lte=agreement.version - len(pending)
        )
        events = [self.log.decode(s) for s in stored]
        return list(fulfilment_ledger([*events, *pending]).values())

    def version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        """The aggregate's version at a point in time (None if it did not exist yet)."""
        version = None
        for stored in self.log.events(aggregate_id):
            if getattr(stored, "timestamp", moment) > moment:
                break
            version = stored.originator_version
        return version

    # ------------------------------------------------------------------ saving

    def execute(
        self,
        ctx: CommandContext,
        command: Callable[[], tuple[list[Aggregate], dict[str, Any]]],
        *,
        status: int = 200,
        kept: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Outcome:
        """Run a command once per idempotency key and save what it changed atomically.

        `command` loads aggregates, applies the domain change and returns the changed
        aggregates with the plain result. The result is stored with the events when the
        request carries an Idempotency-Key, so a retry gets the same answer and no event.
        A result holding personal data is stored as `kept(result)` (for example just an
        id) and rebuilt on a retry by `replayed(stored)`, so no plaintext is kept.
        """
        # Every command is first decided on kept state (ADR 25, amended): what another
        # process moved on since is noticed when the save checks versions (a clash, a
        # stale read), and the command is then decided once more on the store's state, so
        # its answer is the one a process without the cache gives. Two cases the save
        # cannot tell apart are decided once more at once (`UnverifiedKeptStateError`): a command
        # that saves nothing (nothing checks what it kept), and a command naming no
        # version (no If-Match) that changes an aggregate it took from the cache (a clash
        # there may be a change made before the command, which must not be answered as one,
        # or a race it lost, which must).
        for cached in (True, False):
            self._command.borrowed = {}
            self._command.cached = cached
            self._command.named = ctx.expected_version is not None
            try:
                outcome = self._execute(ctx, command, status, kept, replayed)
            except UnverifiedKeptStateError:
                self._forget_borrowed()
                continue
            except (DomainError, ApplicationError) as refusal:
                stale = any(b.cached for b in self._command.borrowed.values())
                self._forget_borrowed()
                if cached and stale:
                    # Decided on kept state another process may have moved past: decided once
                    # more on what the store holds. The answer is then the one a process
                    # without the cache gives now: with If-Match, a stale version is a 412
                    # either way; a rule may have been judged on stale state; an aggregate
                    # only read has no race to lose.
                    continue
                if not isinstance(refusal, ConcurrentUpdateError):
                    raise
                if ctx.expected_version is None:
                    raise
                # The client named a version (If-Match) that another command replaced
                # between our load and our commit: its precondition failed, as if it had
                # come later.
                raise VersionMismatchError(
                    f"version {ctx.expected_version} was replaced by a concurrent change; "
                    "reload it and retry"
                ) from None
            except BaseException:
                self._forget_borrowed()
                raise
            else:
                for borrowed in self._command.borrowed.values():
                    self.cache.give_back(borrowed)
                return outcome
            finally:
                self._command.borrowed = None
        raise AssertionError("unreachable: the run without the cache returns or raises")

    def _forget_borrowed(self) -> None:
        for aggregate_id in self._command.borrowed:
            self.cache.forget(aggregate_id)

    def _execute(
        self,
        ctx: CommandContext,
        command: Callable[[], tuple[list[Aggregate], dict[str, Any]]],
        status: int,
        kept: Callable[[dict[str, Any]], dict[str, Any]] | None,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> Outcome:
        request = ctx.idempotency
        if request is None:
            aggregates, body = command()
            return Outcome(body, status, position=self._save(aggregates, None))
        token_id = ctx.actor.token_id
        self.idempotency.purge_expired()
        # No lookup before the command: a retry is recognised by the record's primary key
        # when it saves (its whole transaction is then rolled back), or, when the command
        # now fails (its If-Match is stale, the change is done), by a lookup on that path.
        with self.in_flight(token_id, request):
            for attempt in (1, 2):
                try:
                    aggregates, body = command()
                except (DomainError, ApplicationError):
                    # A refused command (a stale If-Match among them) may be a retry whose
                    # first attempt changed what it checks.
                    earlier = self.earlier(token_id, request, replayed)
                    if earlier is not None:
                        return earlier
                    raise
                record = IdempotencyRecord(
                    token_id,
                    request.key,
                    request.fingerprint,
                    request.status,
                    body if kept is None else kept(body),
                )
                try:
                    position = self._save(aggregates, record)
                except UnverifiedKeptStateError:
                    raise  # decided once more by `execute`; nothing was written
                except ConcurrentUpdateError:
                    earlier = self.earlier(token_id, request, replayed)
                    if earlier is not None:
                        return earlier
                    # The key's record outlived its time: gone now, the request runs anew.
                    if attempt == 1 and self.idempotency.drop_expired(token_id, request.key):
                        continue
                    raise
                return Outcome(body, request.status, position=position)
            raise AssertionError("unreachable: the second attempt returns or raises")

    @contextmanager
    def in_flight(self, token_id: str, request: IdempotencyRequest) -> Iterator[None]:
        """Hold the token's Idempotency-Key while its request runs in this process.

        A second request with the same key meanwhile gets IdempotencyInFlightError; across
        processes the idempotency record's primary key lets only one of them commit.
        """
        slot = (token_id, request.key)
        with self._in_flight_lock:
            if slot in self._in_flight:
                raise IdempotencyInFlightError(
                    f"a request with Idempotency-Key {request.key!r} is still being processed"
                )
            self._in_flight.add(slot)
        try:
            yield
        finally:
            self._in_flight.discard(slot)

    def earlier(
        self,
        token_id: str,
        request: IdempotencyRequest,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Outcome | None:
        """The stored first answer to this key, IdempotencyKeyReusedError if it was for
        another request, or None if the key is new."""
        stored = kept_record(self.idempotency, token_id, request)
        if stored is None:
            return None
        body = stored.body if replayed is None else replayed(stored.body)
        return Outcome(body, stored.status, replayed=True)

    def _save(self, aggregates: list[Aggregate], record: IdempotencyRecord | None) -> int | None:
        """Save atomically; return the global position of the last event written."""
        claims = key_claims(event for a in aggregates for event in a.pending_events)
        # What the command read from the cache without changing it must still be current.
        saved = {a.id for a in aggregates}
        borrowed: dict[UUID, Borrowed] | None = getattr(self._command, "borrowed", None)
        if borrowed is None:
            borrowed = {}
        reads = [(i, b.version) for i, b in borrowed.items() if b.cached and i not in saved]
        changed = [a.id for a in aggregates if a.pending_events]
        if not changed and any(b.cached for b in borrowed.values()):
            raise UnverifiedKeptStateError("decided on kept state and nothing to save")
        if not getattr(self._command, "named", True) and any(
            i in borrowed and borrowed[i].cached for i in changed
        ):
            raise UnverifiedKeptStateError("changed kept state without naming a version")
        for created in aggregates:  # new ones are kept too once saved
            if created.id not in borrowed:
                before = created.version - len(created.pending_events)
                borrowed[created.id] = Borrowed(created, 0, before, cached=False)
        try:
            recordings = self.log.save(aggregates, record, claims, reads)
        except IntegrityError as error:
            for public_key, party_id in claims:
                owner = self.key_owners.owner(bytes.fromhex(public_key))
                if owner is not None and owner != party_id:
                    raise SigningKeyTakenError(
                        "another party registered this public key at the same moment"
                    ) from None
            if STALE_READ in str(error):
                raise StaleReadError(f"{STALE_READ}; decided once more") from None
            raise ConcurrentUpdateError(
                "another command changed this object at the same moment; reload and retry"
            ) from None
        position = recordings[-1].notification.id if recordings else None
        for listener in self.after_commit:
            listener(position, recordings)
        return position


def key_claims(events: Iterable[object]) -> list[KeyClaim]:
    """The (public key, party) claims of the signing keys these events register."""
    return [
        (event.public_key.hex(), str(event.originator_id))
        for event in events
        if isinstance(event, Party.SigningKeyRegistered)
    ]


def kept_record(
    records: IdempotencyRecords, token_id: str, request: IdempotencyRequest
) -> IdempotencyRecord | None:
    """The record kept for the token's Idempotency-Key: None when the key is new,
    IdempotencyKeyReusedError when it was kept for another request."""
    stored = records.find(token_id, request.key)
    if stored is not None and stored.fingerprint != request.fingerprint:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key {request.key!r} was used before with a different request"
        )
    return stored
