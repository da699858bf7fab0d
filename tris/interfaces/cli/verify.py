"""`tris verify`: check an evidence bundle offline, or audit the whole store.

    tris verify BUNDLE.json [--server-key KEY]   no server, no database: only the file
    tris verify --store                           every chain and the Merkle log, from the DB

Each check is printed with its result; the exit code is 1 when any check fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tris.application.integrity.audit import AuditReport
from tris.config import ConfigurationError
from tris.domain.proofs.offline import verify_bundle
from tris.domain.proofs.signed import Check
from tris.interfaces.cli.context import open_services

FAILED = 1


def register(cli: typer.Typer) -> None:
    """Add `verify` to the command line."""
    cli.command("verify")(verify)


def verify(
    bundle: Annotated[
        Path | None,
        typer.Argument(help="An evidence bundle (JSON) to check offline.", show_default=False),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store", help="Audit the configured database instead of a bundle."),
    ] = False,
    server_key: Annotated[
        str | None,
        typer.Option(
            help="The server key you expect (its key id or base64 public key), as published "
            "at GET /v1/server-key."
        ),
    ] = None,
) -> None:
    """Check an evidence bundle offline, or audit every chain and the Merkle log (--store)."""
    if store == (bundle is not None):
        raise ConfigurationError("give either a bundle file or --store (not both)")
    if bundle is not None:
        _verify_bundle(bundle, server_key)
    else:
        _audit_store()


def _verify_bundle(path: Path, server_key: str | None) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    checks = verify_bundle(raw, server_key=server_key)
    for check in checks:
        typer.echo(_line(check))
    failed = sum(not c.ok for c in checks)
    if failed:
        typer.echo(f"NOT VERIFIED: {failed} of {len(checks)} checks failed")
        raise typer.Exit(FAILED)
    typer.echo(f"VERIFIED: all {len(checks)} checks passed")


def _line(check: Check) -> str:
    return f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}"


def _audit_store() -> None:
    with open_services() as services:
        report = services.integrity.audit()
    typer.echo(_summary(report))
    for finding in report.findings:
        where = ", ".join(
            part
            for part in (
                f"aggregate {finding.aggregate_id}" if finding.aggregate_id else "",
                f"version {finding.version}" if finding.version is not None else "",
                f"position {finding.position}" if finding.position is not None else "",
            )
            if part
        )
        typer.echo(f"{finding.kind.upper():<10}  {where + ': ' if where else ''}{finding.detail}")
    if not report.ok:
        typer.echo(f"STORE NOT INTACT: {len(report.findings)} findings")
        raise typer.Exit(FAILED)
    typer.echo("STORE INTACT: every chain, leaf and checkpoint matches")


def _summary(report: AuditReport) -> str:
    pending = f", {report.pending} events not yet logged" if report.pending else ""
    return (
        f"audited {report.events} events of {report.aggregates} aggregates, "
        f"{report.leaves} leaves, {report.checkpoints} checkpoints{pending}"
    )
