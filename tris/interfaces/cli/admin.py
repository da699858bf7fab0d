"""`tris admin …`: operator tasks on the configured database (tokens, parties)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tris.application.access import Role
from tris.application.parties import new_contact
from tris.application.store import CommandContext
from tris.domain.party import Contact, Identifier, PartyDetails
from tris.domain.values import Sector
from tris.interfaces.cli.context import cli_operator, cli_reader, open_services, render_table

app = typer.Typer(help="Operator tasks: issue and revoke tokens, register parties.")


@app.command("create-token")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    party: Annotated[
        str | None, typer.Option(help="The party a partner token acts for (partner only).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note saying what it is for.")] = None,
) -> None:
    """Issue a token and print it alone on stdout (it is shown only this once)."""
    with open_services() as services:
        if party is not None:
            # A partner token for a party that does not exist would authenticate nobody useful.
            services.parties.get(cli_reader(), party)
        issued = services.tokens.issue(role, party, label)
    typer.echo(f"issued {role.value} token {issued.token_id}; it is shown only once", err=True)
    typer.echo(issued.token)


@app.command("list-tokens")
def list_tokens() -> None:
    """List every token: id, role, party, state, label (never the secret)."""
    with open_services() as services:
        tokens = services.tokens.list()
    typer.echo(_table(tokens))


@app.command("revoke-token")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token; it authenticates nothing from now on."""
    with open_services() as services:
        services.tokens.revoke(token_id)
    typer.echo(f"revoked token {token_id}", err=True)


@app.command("register-party")
def register_party(
    name: Annotated[str, typer.Option(help="The organisation's name.")],
    sector: Annotated[Sector, typer.Option(help="Its sector.")],
    region: Annotated[str | None, typer.Option(help="e.g. Berlin-Mitte.")] = None,
    description: Annotated[str | None, typer.Option(help="What it does.")] = None,
    website: Annotated[str | None, typer.Option(help="An http(s) URL.")] = None,
    network: Annotated[
        bool, typer.Option("--network", help="Its members are parties or networks.")
    ] = False,
    identifier: Annotated[
        list[str] | None,
        typer.Option(help="SCHEME:ID in a public register, e.g. DE-CR:HRB 12345 B (repeatable)."),
    ] = None,
    contact_name: Annotated[str | None, typer.Option(help="A contact person's name.")] = None,
    contact_email: Annotated[str | None, typer.Option(help="The contact's email.")] = None,
    contact_phone: Annotated[str | None, typer.Option(help="The contact's phone.")] = None,
) -> None:
    """Register a party and print its id."""
    identifiers = []
    for text in identifier or []:
        scheme, _, value = text.partition(":")
        identifiers.append(Identifier(scheme.strip(), value.strip()))
    details = PartyDetails(
        name=name,
        sector=sector,
        region=region,
        description=description,
        website=website,
        network=network,
        identifiers=tuple(identifiers),
    )
    contacts: tuple[Contact, ...] = ()
    if contact_name is not None:
        contacts = (new_contact(contact_name, contact_email, contact_phone),)
    with open_services() as services:
        ctx = CommandContext(cli_operator(services).actor)
        outcome = services.parties.register(ctx, details, contacts)
    typer.echo(outcome.body["id"])


def _table(tokens: list[dict[str, Any]]) -> str:
    header = ("TOKEN ID", "ROLE", "PARTY", "STATE", "CREATED", "LABEL")
    rows = [
        (
            t["token_id"],
            t["role"],
            t["party_id"] or "-",
            "revoked" if t["revoked"] else "active",
            t["created_at"],
            t["label"] or "",
        )
        for t in tokens
    ]
    return render_table(header, rows)


def register(cli: typer.Typer) -> None:
    """Add the `admin` group to the command line."""
    cli.add_typer(app, name="admin")
