"""The `tris` command line: parse, call the application, print.

Each command (or group of commands) lives in its own module with a `register` function;
`worker`, `rebuild`, `projections`, `export`, `replay` and `verify` join the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from tris.interfaces.cli import admin, demo, market, projections, serve, stream, verify
from tris.interfaces.cli.errors import ErrorReportingGroup

REGISTRARS: tuple[Callable[[typer.Typer], None], ...] = (
    serve.register,
    demo.register,
    admin.register,
    projections.register,
    verify.register,
    stream.register,
    market.register,
)


def create_cli() -> typer.Typer:
    """The `tris` command line with every command module registered."""
    cli = typer.Typer(
        name="tris",
        help="TRIS: trisectoral agreements, recorded as events.",
        cls=ErrorReportingGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    for register in REGISTRARS:
        register(cli)
    return cli


def main() -> None:
    """Entry point of the `tris` console script and of `python -m tris`."""
    create_cli()(prog_name="tris")
