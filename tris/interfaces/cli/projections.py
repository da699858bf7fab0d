"""`tris worker`, `tris rebuild`, `tris projections status|digest`: the read models."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Annotated

import typer

from tris.interfaces.cli.context import open_services

app = typer.Typer(help="Inspect the read models: position, lag, digest.")


@app.command("status")
def status() -> None:
    """Show each read model's position in the event log and how far it lags behind."""
    with open_services() as services:
        rows = services.projections.status()
    typer.echo(f"{'projection':<14} {'position':>10} {'head':>10} {'lag':>8}  state")
    for row in rows:
        state = "ok" if row.failure is None else f"FAILING at position {row.failure[0]}"
        typer.echo(f"{row.name:<14} {row.position:>10} {row.head:>10} {row.lag:>8}  {state}")
    failing = [row for row in rows if row.failure is not None]
    for row in failing:
        assert row.failure is not None
        position, event_type, error, when = row.failure
        typer.echo(f"{row.name} failed on {event_type} at position {position} ({when}): {error}")
    if failing:
        raise typer.Exit(1)


@app.command("digest")
def digest(
    catch_up: Annotated[
        bool, typer.Option(help="Apply pending events first, so the digest covers the log.")
    ] = True,
) -> None:
    """Print a digest of all read models, equal whenever two stores hold the same events."""
    with open_services() as services:
        if catch_up:
            services.projections.catch_up()
        typer.echo(services.projections.digest())


def rebuild() -> None:
    """Rebuild every read model from the event log (resumes an interrupted rebuild)."""
    with open_services() as services:
        head = services.projections.head()
        started = time.monotonic()
        with typer.progressbar(length=max(head, 1), label="rebuilding", file=None) as bar:
            done = 0

            def progress(position: int, _head: int) -> None:
                nonlocal done
                bar.update(max(0, min(position, head) - done))
                done = max(done, min(position, head))

            resumed = services.projections.rebuild(progress=progress)
        elapsed = time.monotonic() - started
        typer.echo(
            f"{'resumed and ' if resumed else ''}rebuilt read models from {head} events "
            f"in {elapsed:.1f} s; digest {services.projections.digest()}",
            err=True,
        )


def worker(
    interval: Annotated[float, typer.Option(help="Seconds between polls when idle.")] = 0.05,
) -> None:
    """Apply new events to the read models until stopped (SIGINT/SIGTERM finish the batch)."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with open_services() as services:
        typer.echo(f"worker: following the event log (poll every {interval:.2f} s)", err=True)
        services.projections.run_forever(stop, interval=interval)
    typer.echo("worker: stopped", err=True)


def register(cli: typer.Typer) -> None:
    """Add the read-model commands to the `tris` command line."""
    cli.add_typer(app, name="projections")
    cli.command("rebuild")(rebuild)
    cli.command("worker")(worker)
