"""API tokens: random secrets shown once, stored only as SHA-256 hashes, revocable."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError

from tris.application.access import Principal, Role
from tris.application.persistence import Database, IdempotencyRecord
from tris.application.store import IdempotencyRequest
from tris.domain.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
)

TOKEN_PREFIX = "tris_"  # noqa: S105 - a prefix, not a secret
# How long a process trusts a token it looked up (ADR 14): a revocation made by another
# process takes effect there within this time; in the revoking process at once.
TRUSTED_SECONDS = 1.0
CACHED_TOKENS = 10_000


class TokenNotFoundError(NotFoundError):
    """No token with this id exists."""

    title = "Token not found"


class TokenAlreadyIssuedError(ConflictError):
    """A token was issued under this Idempotency-Key already; its secret is shown only once."""

    title = "Token already issued"


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token: its id and the secret, which is never shown again."""

    token_id: str
    token: str
    role: Role
    party_id: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Tokens:
    """Issues, checks and revokes tokens in the `tris_tokens` table."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._trusted: dict[str, tuple[float, Principal]] = {}

    def issue(
        self, role: Role, party_id: str | None = None, label: str | None = None
    ) -> IssuedToken:
        """Issue a new token; a partner token is bound to its party."""
        if (role is Role.PARTNER) != (party_id is not None):
            raise InvalidInputError("partner tokens, and only they, are bound to a party")
        token_id = uuid.uuid4().hex[:16]
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.database.transaction() as cur:
            cur.execute(
                "INSERT INTO tris_tokens (token_id, token_hash, role, party_id, label, created_at) "
                "VALUES (%s, %s, %s, %s, %s, CURRENT_TIMESTAMP)",
                (token_id, _hash(secret), role.value, party_id, label),
            )
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

        Only the token's id is kept with the key, never its secret, so a retry cannot be
        answered with the first response: it gets TokenAlreadyIssuedError naming the id.
        """
        if idempotency is None:
            return self.issue(role, party_id, label)
        self._refuse_retry(issuer_token_id, idempotency)
        issued = self.issue(role, party_id, label)
        body = {"token_id": issued.token_id, "role": role.value, "party_id": party_id}
        record = IdempotencyRecord(
            issuer_token_id, idempotency.key, idempotency.fingerprint, idempotency.status, body
        )
        try:
            self.database.save_idempotency(record)
        except IntegrityError:
            # A concurrent request with the same key won: this token must not survive.
            self.revoke(issued.token_id)
            self._refuse_retry(issuer_token_id, idempotency)
            raise
        return issued

    def _refuse_retry(self, issuer_token_id: str, idempotency: IdempotencyRequest) -> None:
        stored = self.database.find_idempotency(issuer_token_id, idempotency.key)
        if stored is None:
            return
        if stored.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {idempotency.key!r} was used before with a different request"
            )
        token_id = stored.body.get("token_id") if isinstance(stored.body, dict) else None
        raise TokenAlreadyIssuedError(
            f"token {token_id} was issued under Idempotency-Key {idempotency.key!r} already; "
            "its secret is shown only once: revoke it and issue a new one if it was lost"
        )

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of an unrevoked token, or None."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        known = self.trusted(secret)
        if known is not None:
            return known
        digest = _hash(secret)
        with self.database.read() as cur:
            cur.execute(
                "SELECT token_id, role, party_id FROM tris_tokens "
                "WHERE token_hash=%s AND revoked_at IS NULL",
                (digest,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        principal = Principal(token_id=row[0], role=Role(row[1]), party_id=row[2])
        if len(self._trusted) >= CACHED_TOKENS:
            self._trusted.clear()
        self._trusted[digest] = (time.monotonic() + TRUSTED_SECONDS, principal)
        return principal

    def trusted(self, secret: str) -> Principal | None:
        """The principal of a token this process looked up less than a second ago, if any.

        No database read: the HTTP layer answers such requests without a thread hop.
        """
        entry = self._trusted.get(_hash(secret))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def revoke(self, token_id: str) -> None:
        """Revoke a token; it authenticates nothing from now on."""
        with self.database.transaction() as cur:
            cur.execute(
                "UPDATE tris_tokens SET revoked_at=CURRENT_TIMESTAMP "
                "WHERE token_id=%s AND revoked_at IS NULL",
                (token_id,),
            )
            changed = getattr(cur, "rowcount", None)
        for digest, (_, principal) in list(self._trusted.items()):
            if principal.token_id == token_id:
                self._trusted.pop(digest, None)
        if changed == 0:
            raise TokenNotFoundError(f"no active token {token_id}")

    def list(self) -> list[dict[str, Any]]:
        """Every token's id, role, party and state (never the secret or its hash)."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT token_id, role, party_id, label, created_at, revoked_at "
                "FROM tris_tokens ORDER BY created_at, token_id"
            )
            rows = cur.fetchall()
        return [
            {
                "token_id": r[0],
                "role": r[1],
                "party_id": r[2],
                "label": r[3],
                "created_at": str(r[4]),
                "revoked": r[5] is not None,
            }
            for r in rows
        ]
