"""`tris market report`: a market's evaluation, as a table or as JSON."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import typer

from tris.interfaces.cli.context import open_services, render_table

app = typer.Typer(help="Markets: evaluate a Marktplatz, action day or round table.")


class ReportFormat(Enum):
    """How the report is printed."""

    TABLE = "table"
    JSON = "json"


@app.command("report")
def report(
    market_id: Annotated[str, typer.Argument(help="The market's id.")],
    output: Annotated[
        ReportFormat, typer.Option("--format", help="A table for people, JSON for programs.")
    ] = ReportFormat.TABLE,
) -> None:
    """Print the market's evaluation: counts, fulfilment rate, quantities by kind and unit,
    and the agreements to follow up."""
    with open_services() as services:
        market = services.markets.get(market_id)
        services.projections.catch_up()
        stats = services.queries.market_stats(market_id)
        follow_ups = _all_follow_ups(services.queries, market_id)
    document = {"market": market, "stats": stats, "follow_ups": follow_ups}
    if output is ReportFormat.JSON:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    typer.echo(render(document))


def _all_follow_ups(queries: Any, market_id: str) -> dict[str, Any]:
    page = queries.follow_ups(market_id, limit=500)
    items = list(page["items"])
    while page["next_cursor"]:
        page = queries.follow_ups(market_id, limit=500, cursor=page["next_cursor"])
        items += page["items"]
    return {"due_on": page["due_on"], "items": items}


def render(document: dict[str, Any]) -> str:
    """The report as plain text tables."""
    market, stats, follow_ups = document["market"], document["stats"], document["follow_ups"]
    rate = stats["fulfilment_rate"]
    lines = [
        f"{market['title']} ({market['format']}, {market['status']})",
        f"{market['region'] or '-'} · {market['venue'] or '-'} · "
        f"{market['starts_at']} to {market['ends_at']}",
        "",
        render_table(
            ("FIGURE", "VALUE"),
            [
                ("participants", str(len(market["participants"]))),
                ("offers", str(stats["offers"])),
                ("needs", str(stats["needs"])),
                ("deals", str(stats["deals"])),
                ("concluded", str(stats["concluded"])),
                ("notarised", str(stats["notarised"])),
                ("completed", str(stats["completed"])),
                (
                    "fulfilment rate",
                    "-" if rate is None else f"{rate} ({float(rate) * 100:.1f} %)",
                ),
            ],
        ),
        "",
        render_table(
            ("KIND", "UNIT", "COMMITTED", "FULFILLED"),
            [(c["kind"], c["unit"], c["committed"], c["fulfilled"]) for c in stats["commitments"]]
            or [("-", "-", "0", "0")],
        ),
        "",
    ]
    due = follow_ups["due_on"]
    if due is None:
        lines.append("follow-ups: from 14 days after the market closes")
    elif not follow_ups["items"]:
        lines.append(f"follow-ups (due {due}): none")
    else:
        lines.append(f"follow-ups (due {due}): {len(follow_ups['items'])}")
        lines.append(
            render_table(
                ("AGREEMENT", "TITLE", "PARTIES"),
                [
                    (i["agreement_id"], i["title"] or "-", ", ".join(i["parties"]))
                    for i in follow_ups["items"]
                ],
            )
        )
    return "\n".join(lines)


def register(cli: typer.Typer) -> None:
    """Add the `market` group to the command line."""
    cli.add_typer(app, name="market")
