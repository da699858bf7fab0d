"""An HTTP client of the v1 API for tests: partners with keys, bearer headers, content."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from tests.support.integrity import with_server_key
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.domain.signing import key_registration

TODAY = date(2026, 6, 1)


def key_body(key: Ed25519PrivateKey, party_id: str) -> dict[str, str]:
    """The body that registers `key` for the party, with its proof of possession."""
    public_key, proof = key_registration(key, party_id)
    return {"public_key": public_key, "proof": proof}


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """Base64 of the raw 32 bytes of a private key's public half."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def bearer(token: str, **extra: str) -> dict[str, str]:
    """Request headers carrying a bearer token (and any others given)."""
    headers = {"Authorization": f"Bearer {token}"}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


def if_match(response: httpx.Response) -> str:
    """The ETag of a response, to send back as If-Match."""
    return response.headers["ETag"]


def content(
    debtor: Partner,
    beneficiary: Partner,
    *others: Partner,
    title: str = "Kiezküche Moabit",
    quantity: str = "10",
    due_on: str | None = None,
    extra_commitments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Agreement content in which `debtor` owes `beneficiary` `quantity` hours."""
    parties = [debtor.party_id, beneficiary.party_id, *(o.party_id for o in others)]
    return {
        "title": title,
        "purpose": "Gemeinsam ein Mittagessen für Nachbarn organisieren",
        "parties": parties,
        "terms": {"text": "Nach dem Marktplatz-Prinzip, ohne Geld", "starts_on": "2026-01-01"},
        "commitments": [
            {
                "debtor": debtor.party_id,
                "beneficiary": beneficiary.party_id,
                "kind": "time",
                "quantity": quantity,
                "unit": "hours",
                "description": "Kochen mit Azubis",
                "due_on": due_on,
            },
            *(extra_commitments or []),
        ],
    }


@dataclass
class Partner:
    """A registered party acting through its partner token, with a registered Ed25519 key."""

    name: str
    sector: str
    party_id: str
    token: str
    token_id: str
    private_key: Ed25519PrivateKey
    key_id: str

    def headers(self, **extra: str) -> dict[str, str]:
        """This partner's request headers."""
        return bearer(self.token, **extra)

    def sign(self, payload: bytes) -> str:
        """Base64 Ed25519 signature of the bytes as received."""
        return base64.b64encode(self.private_key.sign(payload)).decode()


@dataclass
class Api:
    """A client of the v1 API driving it the way an outside client would."""

    client: TestClient | httpx.Client
    admin_token: str
    partners: dict[str, Partner] = field(default_factory=dict)
    _keys: Iterator[int] = field(default_factory=itertools.count)

    @property
    def admin(self) -> dict[str, str]:
        """The admin's request headers."""
        return bearer(self.admin_token)

    def key(self) -> str:
        """A fresh Idempotency-Key."""
        return f"key-{next(self._keys)}"

    def register_party(self, name: str, sector: str, **details: Any) -> dict[str, Any]:
        """Register a party as admin; return its view."""
        response = self.client.post(
            "/v1/parties", json={"name": name, "sector": sector, **details}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def checkpoint(self) -> dict[str, Any]:
        """Have an admin sign a checkpoint now (readers never make the server sign one)."""
        response = self.client.post("/v1/checkpoints", headers=self.admin)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def issue_token(self, role: str) -> str:
        """An auditor or researcher token."""
        response = self.client.post("/v1/tokens", json={"role": role}, headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def partner(self, name: str, sector: str, **details: Any) -> Partner:
        """Register a party, issue its partner token and register a real Ed25519 key."""
        party = self.register_party(name, sector, **details)
        issued = self.client.post(f"/v1/parties/{party['id']}/tokens", headers=self.admin)
        assert issued.status_code == 201, issued.text
        token = issued.json()
        private = Ed25519PrivateKey.generate()
        key = self.client.post(
            f"/v1/parties/{party['id']}/signing-keys",
            json=key_body(private, party["id"]),
            headers=bearer(token["token"]),
        )
        assert key.status_code == 201, key.text
        partner = Partner(
            name, sector, party["id"], token["token"], token["token_id"], private,
            key.json()["key_id"],
        )  # fmt: skip
        self.partners[name] = partner
        return partner

    def propose(self, proposer: Partner, body: dict[str, Any]) -> httpx.Response:
        """Propose an agreement as `proposer`."""
        return self.client.post("/v1/agreements", json=body, headers=proposer.headers())

    def read(self, token_headers: dict[str, str], agreement_id: str) -> httpx.Response:
        """GET an agreement."""
        return self.client.get(f"/v1/agreements/{agreement_id}", headers=token_headers)

    def current_etag(self, agreement_id: str) -> str:
        """The agreement's current ETag, read as admin."""
        response = self.read(self.admin, agreement_id)
        assert response.status_code == 200, response.text
        return if_match(response)

    def payload(self, partner: Partner, agreement_id: str, revision: int) -> bytes:
        """The signing payload's bytes exactly as served."""
        response = self.client.get(
            f"/v1/agreements/{agreement_id}/revisions/{revision}/signing-payload",
            headers=partner.headers(),
        )
        assert response.status_code == 200, response.text
        return response.content

    def sign(self, partner: Partner, agreement_id: str, revision: int) -> httpx.Response:
        """Sign a revision with the partner's real key over the served payload bytes."""
        payload = self.payload(partner, agreement_id, revision)
        return self.client.post(
            f"/v1/agreements/{agreement_id}/signatures",
            json={
                "revision": revision,
                "key_id": partner.key_id,
                "signature": partner.sign(payload),
            },
            headers=partner.headers(**{"If-Match": self.current_etag(agreement_id)}),
        )

    def conclude(self, agreement_id: str, revision: int, *signers: Partner) -> dict[str, Any]:
        """Have every signer sign; return the last answer's body."""
        body: dict[str, Any] = {}
        for signer in signers:
            response = self.sign(signer, agreement_id, revision)
            assert response.status_code == 201, response.text
            body = response.json()
        return body

    def post(
        self, partner: Partner, agreement_id: str, tail: str, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        """POST a command to an agreement with its current ETag as If-Match."""
        return self.client.post(
            f"/v1/agreements/{agreement_id}/{tail}",
            json=json,
            headers=partner.headers(**{"If-Match": self.current_etag(agreement_id)}),
        )

    def history(self, agreement_id: str) -> list[dict[str, Any]]:
        """The audit timeline's items, read as admin."""
        response = self.client.get(f"/v1/agreements/{agreement_id}/history", headers=self.admin)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@dataclass
class Trio:
    """The demo-like cast: one party of each sector, and an outsider."""

    state: Partner
    business: Partner
    civil: Partner
    outsider: Partner


def build_services(database_url: str, **settings: Any) -> Services:
    """Services on the test database, with a fixed today."""
    with_server_key(database_url, settings)  # PostgreSQL needs a configured server key
    return build(load_settings(database_url=database_url, **settings), today=lambda: TODAY)
