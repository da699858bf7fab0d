"""Signed-in sessions of the audit pages: a signed, expiring cookie naming a token.

The cookie holds the token's id, role and party and when it expires, signed with HMAC-SHA256
under a key derived from the server key; it never holds the token's secret. Every request
checks the signature, the expiry and that the token is still active, so revoking a token
ends its sessions. The sign-in form carries a CSRF token bound to a pre-session cookie; the
sign-out form one bound to the session (double submit, both HMAC-signed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from tris.application.access import Principal, Role

COOKIE = "tris_session"
PRE_COOKIE = "tris_signin"
LIFETIME = 8 * 3600  # a working day
MAX_COOKIE = 1000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A signed-in token: who it is and the CSRF value of its forms."""

    principal: Principal
    expires: int
    nonce: str


class Sessions:
    """Issues and checks session cookies and CSRF values under one secret key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, purpose: str, payload: bytes) -> str:
        return _b64(
            hmac.new(self.key, purpose.encode() + b"\x00" + payload, hashlib.sha256).digest()
        )

    def issue(self, principal: Principal, now: float | None = None) -> str:
        """A cookie value for this principal, valid for LIFETIME seconds."""
        body = {
            "t": principal.token_id,
            "r": principal.role.value,
            "p": principal.party_id,
            "e": int((now or time.time()) + LIFETIME),
            "n": secrets.token_urlsafe(16),
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._mac('session', payload)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie, or None when it is missing, forged or expired."""
        if not cookie or len(cookie) > MAX_COOKIE or cookie.count(".") != 1:
            return None
        encoded, mac = cookie.split(".")
        try:
            payload = _unb64(encoded)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            body = json.loads(payload)
            role = Role(body["r"])
            principal = Principal(str(body["t"]), role, body["p"])
            expires, nonce = int(body["e"]), str(body["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if role is Role.PUBLIC or expires < (now or time.time()):
            return None
        return Session(principal, expires, nonce)

    def csrf(self, nonce: str) -> str:
        """The CSRF value of the forms of the session (or pre-session) with this nonce."""
        return self._mac("csrf", nonce.encode())

    def csrf_valid(self, nonce: str | None, submitted: str | None) -> bool:
        """True when a form's CSRF value belongs to this (pre-)session."""
        if not nonce or not submitted or len(submitted) > 200:
            return False
        return hmac.compare_digest(self.csrf(nonce), submitted)

    def pre_session(self) -> str:
        """A fresh, signed pre-session nonce for the sign-in form."""
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac('pre', nonce.encode())}"

    def pre_nonce(self, cookie: str | None) -> str | None:
        """The nonce of a genuine pre-session cookie, else None."""
        if not cookie or len(cookie) > 200 or cookie.count(".") != 1:
            return None
        nonce, mac = cookie.split(".")
        return nonce if hmac.compare_digest(mac, self._mac("pre", nonce.encode())) else None
