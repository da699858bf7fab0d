"""`tris verify`: check an evidence bundle offline, or audit the whole store.

    tris verify BUNDLE.json --server-key KEY     no server, no database: only the file
    tris verify BUNDLE.json --trusted-keys FILE  the same, trusting any key of FILE
    tris verify --store                          every chain and the Merkle log, from the DB

Each check is printed with its result. Exit codes: 0 VERIFIED (every check passed and the
server key is one the verifier trusts); 1 NOT VERIFIED (a check failed); 3 UNANCHORED (every
check passed, but no trusted key was given, so the bundle may be a consistent forgery);
2 for a pin that is no pin (a 16-digit key id) or an unreadable file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tris.application.integrity.audit import AuditReport
from tris.config import ConfigurationError
from tris.domain.proofs.offline import is_anchored, parse_anchor, verify_bundle
from tris.domain.proofs.signed import Check
from tris.interfaces.cli.context import open_services

FAILED = 1
UNANCHORED_EXIT = 3


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
            help="The server key you trust: its full base64 public key or its SHA-256 "
            "fingerprint, both published at GET /v1/server-key (a key id is no pin)."
        ),
    ] = None,
    trusted_keys: Annotated[
        Path | None,
        typer.Option(
            help="A file of trusted server keys, one per line (base64 public key or SHA-256 "
            "fingerprint; # starts a comment)."
        ),
    ] = None,
) -> None:
    """Check an evidence bundle offline, or audit every chain and the Merkle log (--store)."""
    if store == (bundle is not None):
        raise ConfigurationError("give either a bundle file or --store (not both)")
    if bundle is not None:
        _verify_bundle(bundle, _anchors(server_key, trusted_keys))
    else:
        _audit_store()


def _anchors(server_key: str | None, trusted_keys: Path | None) -> list[str]:
    """The trusted keys given, each checked to be a real pin (BundleError otherwise)."""
    given = [] if server_key is None else [server_key]
    if trusted_keys is not None:
        lines = _read(trusted_keys).decode("utf-8", errors="replace").splitlines()
        given += [line.split("#", 1)[0].strip() for line in lines]
    return [parse_anchor(anchor) for anchor in given if anchor]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None


def _verify_bundle(path: Path, anchors: list[str]) -> None:
    checks = verify_bundle(_read(path), trusted=anchors)
    for check in checks:
        typer.echo(_line(check))
    failed = sum(not c.ok for c in checks)
    if failed:
        typer.echo(f"NOT VERIFIED: {failed} of {len(checks)} checks failed")
        raise typer.Exit(FAILED)
    if not is_anchored(checks):
        typer.echo(
            f"UNANCHORED: all {len(checks)} checks passed, but no trusted server key was "
            "given: a forger's own keys would pass as well. Pass --server-key (the full "
            "public key or SHA-256 fingerprint from GET /v1/server-key) or --trusted-keys FILE"
        )
        raise typer.Exit(UNANCHORED_EXIT)
    typer.echo(f"VERIFIED: all {len(checks)} checks passed, under a trusted server key")


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
