"""What the demo leaves behind for a person to try it: tokens, keys, agreement ids."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoParty:
    """A demo party and the secrets a person needs to act as it (shown by `serve --demo`)."""

    handle: str
    party_id: str
    name: str
    sector: str
    token: str
    key_id: str
    private_key: str
    """Base64 of the raw 32-byte Ed25519 private key."""


@dataclass(frozen=True)
class DemoAgreement:
    """One agreement of the scenario."""

    handle: str
    agreement_id: str
    title: str


@dataclass(frozen=True)
class DemoMarket:
    """One market of the scenario."""

    handle: str
    market_id: str
    title: str


@dataclass(frozen=True)
class DemoData:
    """What the demo created: the operator's token, the parties and the agreements."""

    admin_token: str
    parties: tuple[DemoParty, ...]
    agreements: tuple[DemoAgreement, ...]
    markets: tuple[DemoMarket, ...] = ()
    auditor_token: str = ""

    def party(self, handle: str) -> DemoParty:
        """The demo party with this handle (`bezirksamt`, `senat`, …)."""
        return next(p for p in self.parties if p.handle == handle)

    def agreement(self, handle: str) -> DemoAgreement:
        """The demo agreement with this handle (`marktplatz`, `netzwerke`, …)."""
        return next(a for a in self.agreements if a.handle == handle)
