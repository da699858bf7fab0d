"""`tris demo`: load the Berlin demo scenario and print each agreement's audit timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from tris.demo import demo_data_exists, load_demo
from tris.domain.values import OPERATOR
from tris.interfaces.cli.context import (
    cli_reader,
    describe_database,
    open_services,
    settings_from_environment,
)


def register(cli: typer.Typer) -> None:
    """Add `demo` to the command line."""
    cli.command("demo")(demo)


def demo() -> None:
    """Load the demo scenario into the configured database and print its audit timelines."""
    settings = settings_from_environment()
    with open_services(settings) as services:
        if demo_data_exists(services):
            typer.echo(
                "note: the database holds data already; the demo is added beside it", err=True
            )
        data = load_demo(services)
        reader = cli_reader()
        records = [
            (
                services.agreements.get(reader, agreement.agreement_id),
                services.agreements.history(reader, agreement.agreement_id),
            )
            for agreement in data.agreements
        ]
    names = {p.party_id: p.name for p in data.parties}
    widths = column_widths([item for _, history in records for item in history])
    typer.echo(
        f"Demo scenario loaded into {describe_database(settings.database_url)}: "
        f"{len(data.parties)} parties, {len(data.agreements)} agreements.\n"
    )
    typer.echo(
        "\n\n".join(render_timeline(view, history, names, widths) for view, history in records)
    )
    typer.echo(f"\nAdmin token of this database (shown once): {data.admin_token}")


def column_widths(history: list[dict[str, Any]]) -> tuple[int, int]:
    """Widths of the actor and event-type columns that fit every row given."""
    return (
        max((len(_actor(item)) for item in history), default=0),
        max((len(item["type"]) for item in history), default=0),
    )


def render_timeline(
    view: dict[str, Any],
    history: list[dict[str, Any]],
    names: dict[str, str],
    widths: tuple[int, int] | None = None,
) -> str:
    """An agreement's heading and its audit timeline: time, actor, event type, summary."""
    actor_width, type_width = widths or column_widths(history)
    parties = ", ".join(names.get(p["party_id"], p["party_id"]) for p in view["parties"])
    lines = [
        f"== {view['content']['title']}",
        f"   {view['status']} · {view['sector_mix']} · {_revisions(view)}",
        f"   id {view['id']}",
        f"   parties: {parties}",
        "",
        *(
            f"   {_time(item['time'])}  {_actor(item).ljust(actor_width)}  "
            f"{item['type'].ljust(type_width)}  {_summary(item)}"
            for item in history
        ),
    ]
    return "\n".join(lines)


def _revisions(view: dict[str, Any]) -> str:
    latest, in_force = view["revision"], view["in_force_revision"]
    if in_force is None:
        return f"revision {latest}"
    if in_force == latest:
        return f"revision {latest} in force"
    return f"revision {latest}, revision {in_force} in force"


def _time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


def _actor(item: dict[str, Any]) -> str:
    party_id: str = item["actor"]["party_id"]
    name: str | None = item["actor_name"]
    return name or ("operator" if party_id == OPERATOR else party_id)


def _summary(item: dict[str, Any]) -> str:
    # The summary opens with the actor's name, which the timeline shows in its own column.
    summary: str = item["summary"]
    name = item["actor_name"]
    if name and summary.startswith(name + " "):
        return summary[len(name) + 1 :]
    return summary
