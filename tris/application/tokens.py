"""API tokens: random secrets shown once, stored only as SHA-256 hashes, revocable.

A token issued under an Idempotency-Key is answered again, secret included, when the
request is retried (ADR 14): its secret is an HMAC, under a key derived from the server
key (which lives outside the database), of 32 random bytes kept with the key's record.
The database alone never holds a secret, nor what reveals one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError

from tris.application.access import Principal, Role
from tris.application.errors import TokenAlreadyIssuedError, TokenNotFoundError
from tris.application.readmodels.queries.paging import CursorCodec
from tris.application.store import IdempotencyRequest, kept_record
from tris.domain.errors import InvalidInputError
from tris.domain.values import check_text
from tris.storage.database import Database
from tris.storage.idempotency import IdempotencyRecord, IdempotencyRecords
from tris.storage.tokens import TokenRow, TokenRows

TokenPage = tuple[list[dict[str, Any]], str | None]

TOKEN_PREFIX = "tris_"  # noqa: S105 - a prefix, not a secret
# How long a process goes without asking how many revocations were made (ADR 14, amended):
# a revocation made by another process takes effect there within this time; in the
# revoking process at once. A token looked up once is then trusted without a read for as
# long as no revocation was made after it was read.
TRUSTED_SECONDS = 1.0
CACHED_TOKENS = 10_000
# An unknown token is answered from memory for this long: a client retrying a wrong token,
# or an attacker guessing, costs no database read each time.
UNKNOWN_SECONDS = 5.0
REPLAY_PURPOSE = b"tris idempotent token issue v1"


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token: its id and the secret, which is never shown again."""

    token_id: str
    token: str
    role: Role
    party_id: str | None
    replayed: bool = False


def _require_valid_request(role: Role, party_id: str | None, label: str | None) -> None:
    """A partner token names its party, no other does; a label is one line of text."""
    _require_binding(role, party_id)
    if label is not None:
        check_text("label", label)


def _require_binding(role: Role, party_id: str | None) -> None:
    """Partner tokens, and only they, are bound to a party (InvalidInputError)."""
    if (role is Role.PARTNER) != (party_id is not None):
        raise InvalidInputError("partner tokens, and only they, are bound to a party")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Tokens:
    """Issues, checks and revokes API tokens."""

    def __init__(
        self,
        database: Database,
        *,
        replay_key: Callable[[], bytes] | None = None,
        idempotency: IdempotencyRecords | None = None,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.rows = TokenRows(database, idempotency)
        self.cursors = cursors or CursorCodec()
        self._replay_key = replay_key
        # Tokens looked up: secret hash -> (revocations made when it was read, principal).
        self._trusted: dict[str, tuple[int, Principal]] = {}
        # The most revocations seen, and when (monotonic) the check that saw the latest
        # began: every revocation committed before then is counted.
        self._seen: tuple[int, float] = (0, -math.inf)
        self._seen_lock = threading.Lock()
        self._unknown: dict[str, float] = {}  # digests of unknown tokens, until when

    def issue(
        self, role: Role, party_id: str | None = None, label: str | None = None
    ) -> IssuedToken:
        """Issue a new token; a partner token is bound to its party."""
        _require_valid_request(role, party_id, label)
        token_id = uuid.uuid4().hex[:16]
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.rows.insert((token_id, _hash(secret), role.value, party_id, label))
        return IssuedToken(token_id, secret, role, party_id)

    def issue_once(
        self,
        role: Role,
        party_id: str | None = None,
        label: str | None = None,
        *,
        issuer_token_id: str,
        idempotency: IdempotencyRequest | None = None,
    ) -> IssuedToken:
        """Issue a token at most once per Idempotency-Key of the issuing token.

        A retry with the same key and request gets the first answer again (`replayed`);
        the same key with another request is refused. The token and the key's record are
        written in one transaction.
        """
        if idempotency is None:
            return self.issue(role, party_id, label)
        _require_valid_request(role, party_id, label)
        earlier = self._replay(issuer_token_id, idempotency)
        if earlier is not None:
            return earlier
        self.rows.idempotency.drop_expired(issuer_token_id, idempotency.key)
        seed = secrets.token_bytes(32)
        token_id = uuid.uuid4().hex[:16]
        secret = self._secret_from(seed)
        body = {
            "token_id": token_id,
            "role": role.value,
            "party_id": party_id,
            "seed": base64.b64encode(seed).decode("ascii"),
        }
        record = IdempotencyRecord(
            issuer_token_id, idempotency.key, idempotency.fingerprint, idempotency.status, body
        )
        try:
            self.rows.insert((token_id, _hash(secret), role.value, party_id, label), record)
        except IntegrityError:
            # A concurrent request with the same key won; nothing of this one was kept.
            earlier = self._replay(issuer_token_id, idempotency)
            if earlier is None:
                raise
            return earlier
        return IssuedToken(token_id, secret, role, party_id)

    def _secret_from(self, seed: bytes) -> str:
        if self._replay_key is None:
            raise RuntimeError("tokens are not wired to the server key: build them in bootstrap")
        digest = hmac.new(self._replay_key(), seed, hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def _replay(self, issuer_token_id: str, idempotency: IdempotencyRequest) -> IssuedToken | None:
        """The token issued under this key before, secret included; None if there is none."""
        stored = kept_record(self.rows.idempotency, issuer_token_id, idempotency)
        if stored is None:
            return None
        body = stored.body if isinstance(stored.body, dict) else {}
        if "seed" not in body:
            # Kept before replays were possible: the secret cannot be given again.
            raise TokenAlreadyIssuedError(
                f"token {body.get('token_id')} was issued under Idempotency-Key "
                f"{idempotency.key!r} already; its secret cannot be shown again: revoke it "
                "and issue a new one if it was lost"
            )
        secret = self._secret_from(base64.b64decode(body["seed"]))
        party_id = body.get("party_id")
        return IssuedToken(
            str(body["token_id"]),
            secret,
            Role(body["role"]),
            None if party_id is None else str(party_id),
            replayed=True,
        )

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of an unrevoked token, or None."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        if time.monotonic() - self._seen[1] > TRUSTED_SECONDS:
            self._count_revocations()
        known = self.trusted(secret)
        if known is not None:
            return known
        digest = _hash(secret)
        unknown_until = self._unknown.get(digest)
        if unknown_until is not None and unknown_until >= time.monotonic():
            return None
        row = self.rows.active(digest)
        if row is None:
            if len(self._unknown) >= CACHED_TOKENS:
                self._unknown.clear()
            self._unknown[digest] = time.monotonic() + UNKNOWN_SECONDS
            return None
        token_id, role, party_id, revocations = row
        principal = Principal(token_id=token_id, role=Role(role), party_id=party_id)
        if len(self._trusted) >= CACHED_TOKENS:
            self._trusted.clear()
        self._trusted[digest] = (revocations, principal)
        return principal

    def trusted(self, secret: str) -> Principal | None:
        """The principal of a token this process looked up, if no revocation was made since
        it was read as far as the last second's check knows (ADR 14, amended).

        No database read: the HTTP layer answers such requests without a thread hop. A
        revocation anywhere makes each process read each of its tokens once more.
        """
        entry = self._trusted.get(_hash(secret))
        revocations, checked = self._seen
        if entry is None or entry[0] < revocations:
            return None
        if time.monotonic() - checked > TRUSTED_SECONDS:
            return None
        return entry[1]

    def _count_revocations(self) -> None:
        """Ask how many revocations were made (one read for every token of the process).

        Not under a lock: while the database is down each read waits for a connection on
        its own, and a lock would line the waits up one after another (requests then
        missed their deadline instead of answering 503 when their own wait ended). What
        is seen is kept under the lock: the highest count with the latest start, both
        only ever growing (every revocation before a check's start is in its count)."""
        began = time.monotonic()
        revocations = self.rows.revocations()
        with self._seen_lock:
            seen, checked = self._seen
            self._seen = (max(seen, revocations), max(checked, began))

    def is_active(self, token_id: str) -> bool:
        """True while the token is not revoked (a database read: streams ask once a second)."""
        return self.rows.is_active(token_id)

    def revoke(self, token_id: str) -> None:
        """Revoke a token; it authenticates nothing from now on.

        Revoking a revoked token changes nothing and succeeds (a retried revocation, or
        one of a token whose issue was answered again under its Idempotency-Key); only an
        unknown id is refused.
        """
        known = self.rows.revoke(token_id)
        for digest, (_, principal) in list(self._trusted.items()):
            if principal.token_id == token_id:
                self._trusted.pop(digest, None)
        if not known:
            raise TokenNotFoundError(f"no token {token_id}")

    def list(self) -> list[dict[str, Any]]:
        """Every token's id, role, party and state (never the secret or its hash)."""
        return [_token_view(row) for row in self.rows.all()]

    def page(self, limit: int, cursor: str | None = None) -> TokenPage:
        """Up to `limit` tokens, oldest first, after `cursor`; and the next cursor."""
        after = None
        if cursor is not None:
            created_at, token_id = self.cursors.decode(cursor, str, str)
            after = (created_at, token_id)
        rows = self.rows.page(after, limit + 1)
        shown = rows[:limit]
        more = len(rows) > limit and bool(shown)
        next_cursor = (
            self.cursors.encode(shown[-1].created_at, shown[-1].token_id) if more else None
        )
        return [_token_view(row) for row in shown], next_cursor


def _token_view(row: TokenRow) -> dict[str, Any]:
    """A token as an admin sees it: never the secret or its hash."""
    return {
        "token_id": row.token_id,
        "role": row.role,
        "party_id": row.party_id,
        "label": row.label,
        "created_at": row.created_at,
        "revoked": row.revoked,
    }
