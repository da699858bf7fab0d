"""`tris export` and `tris replay`: the event log to a file, and a file into a fresh store.

    tris export --out FILE.ndjson [--after P]     the configured store's events after P
    tris replay FILE.ndjson [--database URL]      load them into an empty store, rebuild
                                                  the read models, print their digest

After a replay, `tris projections digest` on the new store prints the same digest as on
the source store.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from tris.application.errors import ExportFormatError
from tris.application.opendata.export import ExportHeader, read_header, write_export
from tris.application.opendata.replay import replay as replay_export
from tris.application.opendata.replay import require_empty
from tris.config import ConfigurationError, load_settings
from tris.interfaces.cli.context import describe_database, open_services


class ExportFormat(StrEnum):
    """What `tris export` writes."""

    NDJSON = "ndjson"
    OCDS = "ocds"


def register(cli: typer.Typer) -> None:
    """Add `export` and `replay` to the command line."""
    cli.command("export")(export)
    cli.command("replay")(replay)


def export(
    out: Annotated[
        Path, typer.Option("--out", help="The NDJSON file to write (replaced if it exists).")
    ],
    after: Annotated[
        int, typer.Option(min=0, help="Export only the events after this global position.")
    ] = 0,
    export_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="ndjson: the whole event log, for `tris replay`; ocds: every published "
            "agreement as one OCDS 1.1 release package",
        ),
    ] = ExportFormat.NDJSON,
    uri: Annotated[
        str | None,
        typer.Option(help="The `uri` of the OCDS package (default: a urn naming this export)."),
    ] = None,
) -> None:
    """Write the event log (with hashes and stored records) as NDJSON, for `tris replay`;
    or, with `--format ocds`, every published agreement as an OCDS release package."""
    if export_format is ExportFormat.OCDS:
        if after:
            raise ConfigurationError("--after belongs to the ndjson export")
        export_ocds(out, uri)
        return
    with open_services() as services:
        stream = services.stream
        length = max(stream.head() - after, 0)
        try:
            handle = out.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot write {out}: {exc.strerror or exc}") from None
        written = 0

        def advance(count: int) -> None:
            nonlocal written
            written += count
            bar.update(count)

        with handle, typer.progressbar(length=length, label="exporting", file=sys.stderr) as bar:
            header = write_export(stream, handle, after=after, progress=advance)
    if written:
        span = f"{written} events (positions {header.after + 1} to {header.source_head})"
    else:
        span = f"no events (the log ends at position {header.source_head})"
    typer.echo(f"exported {span} to {out}", err=True)


def export_ocds(out: Path, uri: str | None) -> None:
    """Every published agreement's releases as one OCDS release package, streamed."""
    with open_services() as services:
        ocds = services.open_contracting
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        package_uri = uri or f"urn:tris:ocds-export:{ocds.ocid_prefix}:{stamp}"
        if ":" not in package_uri:
            raise ConfigurationError("--uri must be an absolute URI (https://… or urn:…)")
        length = ocds.published_count()
        try:
            handle = out.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot write {out}: {exc.strerror or exc}") from None
        with handle, typer.progressbar(length=length, label="exporting", file=sys.stderr) as bar:
            written = ocds.write_release_package(handle, package_uri, progress=bar.update)
    typer.echo(
        f"exported {written} OCDS releases of {length} published agreements to {out}", err=True
    )


def replay(
    file: Annotated[Path, typer.Argument(help="An export written by `tris export`.")],
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="URL of the empty store to load (default: TRIS_DATABASE_URL).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load an export into an empty store, checking every hash; print the read-model digest."""

    def open_file() -> TextIO:
        try:
            return file.open(encoding="utf-8", newline="\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot read {file}: {exc.strerror or exc}") from None

    with open_file() as handle:
        header = _header(handle)
    settings = load_settings() if database is None else load_settings(database_url=database)
    with open_services(settings) as services:
        require_empty(services)
        length = max(header.source_head - header.after, 0)
        with typer.progressbar(length=length, label="replaying", file=sys.stderr) as bar:
            try:
                report = replay_export(services, open_file, progress=bar.update)
            except UnicodeDecodeError:
                raise ExportFormatError(f"{file} is not UTF-8 text") from None
    note = "" if report.positions_preserved else "; positions renumbered (the source had gaps)"
    typer.echo(
        f"replayed {report.events} events of {report.aggregates} aggregates into "
        f"{describe_database(settings.database_url)}; every hash verified{note}",
        err=True,
    )
    typer.echo(report.digest)


def _header(handle: TextIO) -> ExportHeader:
    try:
        return read_header(handle.readline() or None)
    except UnicodeDecodeError:
        raise ExportFormatError("the file is not UTF-8 text") from None
