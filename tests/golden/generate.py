"""How the golden exports were made (each once): the Berlin demo plus every event type it
lacks.

    python -m tests.golden.generate OUT.ndjson

`export-v1.ndjson` was made before markets existed; `export-v2.ndjson` with the markets of
the demo and the market events it lacks (a withdrawn need, a cancelled market);
`export-v3.ndjson` by this script with the networks of the demo as well, and a rejected
membership. Never overwrite any with a new run: their point is that an old version made
them. Make `export-v4.ndjson` (and its digest) beside them when new event types come.
"""

from __future__ import annotations

import base64
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tris.application.access import Principal
from tris.application.opendata.export import write_export
from tris.application.opendata.stream import EventStream
from tris.application.parties import new_contact
from tris.application.store import CommandContext
from tris.bootstrap import Services, build
from tris.config import load_settings
from tris.demo import DemoData, load_demo
from tris.domain.market.market import MarketFormat, MarketPlan
from tris.domain.market.posting import PostingDraft, PostingSide
from tris.domain.networks.membership import MembershipTerms
from tris.domain.party import PartyDetails
from tris.domain.signing import key_registration
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms


def _principal(services: Services, token: str) -> Principal:
    principal = services.tokens.authenticate(token)
    if principal is None:
        raise RuntimeError("a demo token does not authenticate")
    return principal


def _sign(services: Services, data: DemoData, handle: str, agreement_id: str, rev: int) -> None:
    party = data.party(handle)
    principal = _principal(services, party.token)
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(party.private_key))
    payload = services.agreements.signing_payload(principal, agreement_id, rev)
    signature = base64.b64encode(key.sign(payload)).decode()
    services.agreements.sign(
        CommandContext(principal.actor), agreement_id, rev, party.key_id, signature
    )


def complete_the_event_types(services: Services, data: DemoData) -> None:
    """Add what the demo never does: details, contacts, a revoked key, an erasure, a
    deactivation and a rejected amendment."""
    admin = CommandContext(_principal(services, data.admin_token).actor)
    haus = data.party("nachbarschaftshaus")
    baeckerei = data.party("baeckerei")
    parties = services.parties

    current = parties.get(_principal(services, data.admin_token), haus.party_id)
    parties.update_details(
        admin,
        haus.party_id,
        PartyDetails(
            name=haus.name,
            sector=Sector(haus.sector),
            region="Berlin-Moabit",
            description=current["description"],
            website=current["website"],
        ),
    )
    parties.replace_contacts(
        admin,
        haus.party_id,
        (
            new_contact("Mira Golden", "mira.golden@example.org", "030 555 0101"),
            *(
                new_contact(c["name"], c["email"], c["phone"])
                for c in current["contacts"]
                if not c["erased"]
            ),
        ),
    )
    erased = parties.get(_principal(services, data.admin_token), baeckerei.party_id)
    parties.erase_personal_data(admin, erased["contacts"][0]["id"])

    partner = CommandContext(_principal(services, baeckerei.token).actor)
    spare = key_registration(Ed25519PrivateKey.generate(), baeckerei.party_id)
    key_id = parties.register_signing_key(partner, baeckerei.party_id, *spare).body["key_id"]
    parties.revoke_signing_key(partner, baeckerei.party_id, key_id)

    leaving = parties.register(
        admin, PartyDetails(name="Kiezinitiative im Aufbruch", sector=Sector.CIVIL_SOCIETY)
    ).body["id"]
    parties.deactivate(admin, leaving, "Die Initiative hat sich aufgelöst.")

    def draft(hours: str) -> ContentDraft:
        return ContentDraft(
            title="Brot für das Nachbarschaftsfrühstück",
            purpose="Samstags Brot vom Vortag für das offene Frühstück",
            parties=(baeckerei.party_id, haus.party_id),
            terms=Terms(text="Sachleistung, ohne Geld", starts_on=date(2026, 7, 1)),
            commitments=(
                CommitmentDraft(
                    debtor=baeckerei.party_id,
                    beneficiary=haus.party_id,
                    kind=CommitmentKind.IN_KIND,
                    quantity=hours,
                    unit="items",
                    description="Brote vom Vortag",
                    due_on=date(2026, 12, 31),
                ),
            ),
        )

    agreement_id = services.agreements.propose(partner, draft("40")).body["id"]
    for handle in ("baeckerei", "nachbarschaftshaus"):
        _sign(services, data, handle, agreement_id, 1)
    services.agreements.propose_amendment(partner, agreement_id, draft("60"), "Mehr Brot")
    haus_ctx = CommandContext(_principal(services, haus.token).actor)
    services.agreements.reject_amendment(haus_ctx, agreement_id, 2, "Wir haben keinen Platz")


def complete_the_market_types(services: Services, data: DemoData) -> None:
    """Add what the demo's markets never do: a need withdrawn, a market cancelled."""
    admin = CommandContext(_principal(services, data.admin_token).actor)
    organiser = CommandContext(_principal(services, data.party("bezirksamt_nk").token).actor)
    muetter = CommandContext(_principal(services, data.party("stadtteilmuetter").token).actor)
    live = data.markets[1].market_id
    need = services.markets.post(
        muetter, live, PostingSide.NEED, PostingDraft("time", "2", "hours", "Vorlesen", None)
    ).body["id"]
    services.markets.withdraw(muetter, live, PostingSide.NEED, need, "Hat sich erledigt")
    plan = MarketPlan(
        title="Runder Tisch Gropiusstadt",
        format=MarketFormat.ROUND_TABLE,
        region="Berlin-Neukölln",
        venue="Gemeinschaftshaus Gropiusstadt",
        starts_at=datetime(2026, 11, 5, 17, tzinfo=UTC),
        ends_at=datetime(2026, 11, 5, 19, tzinfo=UTC),
        organisers=(data.party("bezirksamt_nk").party_id,),
        brokers=(),
        notaries=(),
    )
    cancelled = services.markets.schedule(admin, plan).body["id"]
    services.markets.cancel(
        organiser, cancelled, "Der Saal ist wegen eines Wasserschadens gesperrt."
    )


def complete_the_network_types(services: Services, data: DemoData) -> None:
    """Add what the demo's networks never do: a request the other side rejects."""
    verein = data.party("nachbarschaftshaus")
    moabit = data.party("netzwerk")
    asking = CommandContext(_principal(services, moabit.token).actor)
    terms = MembershipTerms(moabit.party_id, verein.party_id, "member", date(2026, 1, 1), None, "")
    asked = services.networks.request(asking, moabit.party_id, terms).body["id"]
    answering = CommandContext(_principal(services, verein.token).actor)
    services.networks.reject(
        answering, moabit.party_id, asked, "Wir sind ein Verein, kein Unternehmen."
    )


def main(out: Path) -> None:
    """Play the scenario into a throwaway SQLite store and export it to `out`."""
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(database_url=f"sqlite:///{directory}/golden.db")
        services = build(settings.model_copy(update={"projections": "inline"}))
        try:
            data = load_demo(services)
            complete_the_event_types(services, data)
            complete_the_market_types(services, data)
            complete_the_network_types(services, data)
            with out.open("w", encoding="utf-8", newline="\n") as handle:
                write_export(EventStream(services.store), handle)
        finally:
            services.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
