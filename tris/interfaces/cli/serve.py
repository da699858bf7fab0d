"""`tris serve`: run the HTTP API with uvicorn, optionally on the demo scenario."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from typing import Annotated, Any, cast

import typer
import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from tris.bootstrap import Services, check_server_key
from tris.config import WRITER_DIR_ENV, ConfigurationError, parse_database_url
from tris.demo import DemoData, demo_data_exists, load_demo
from tris.interfaces.cli.context import (
    cli_reader,
    describe_database,
    open_services,
    settings_from_environment,
)

APP_FACTORY = "tris.interfaces.http.app:server_app"
GRACE_SECONDS = 5


def register(cli: typer.Typer) -> None:
    """Add `serve` to the command line."""
    cli.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="API processes (more than one needs PostgreSQL).", min=1)
    ] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo scenario into an empty database first.")
    ] = False,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes.")] = False,
) -> None:
    """Serve the v1 HTTP API."""
    settings = settings_from_environment()
    backend, _ = parse_database_url(settings.database_url)
    if workers > 1 and backend == "sqlite":
        raise ConfigurationError(
            f"--workers {workers} needs PostgreSQL: a SQLite database is served by one process "
            "(use --workers 1, or set TRIS_DATABASE_URL=postgresql://…)"
        )
    base_url = f"http://{_url_host(host)}:{port}"
    # A missing or unreadable server key stops the start here, with one clear line, not in
    # every API process with a traceback. (The database may still be down: the API
    # processes wait for it.)
    check_server_key(settings)
    if demo:
        with open_services(settings) as services:
            if demo_data_exists(services):
                typer.echo(demo_exists_block(base_url))
            else:
                typer.echo(welcome_block(services, load_demo(services), base_url))
    typer.echo(f"Database: {describe_database(settings.database_url)}", err=True)
    options: dict[str, Any] = {
        "factory": True,
        "workers": workers,
        "reload": reload,
        # On SIGTERM/SIGINT a process stops accepting and finishes the requests in flight,
        # which their deadline bounds.
        "timeout_graceful_shutdown": int(settings.request_timeout) + GRACE_SECONDS,
        "host": host,
        "port": port,
    }
    if workers > 1 and not reload:
        # One of the processes writes for all (ADR 38): they find it in a directory
        # of this server's own, which they inherit through the environment.
        # (Set only while they run: `serve` may be called in a process that goes on.)
        before = os.environ.get(WRITER_DIR_ENV)
        with tempfile.TemporaryDirectory(prefix="tris-writer-") as directory:
            os.environ[WRITER_DIR_ENV] = directory
            try:
                serve_processes(uvicorn.Config(APP_FACTORY, **options), host, port)
            finally:
                if before is None:
                    os.environ.pop(WRITER_DIR_ENV, None)
                else:
                    os.environ[WRITER_DIR_ENV] = before
    else:
        uvicorn.run(APP_FACTORY, **options)


def serve_processes(config: uvicorn.Config, host: str, port: int) -> None:
    """Run `config.workers` API processes, each accepting on a socket of its own.

    They share the port (SO_REUSEPORT): the kernel spreads new connections over the
    processes' sockets. On one shared socket, the process whose event loop woke first
    took every connection that was waiting (its loop accepts until none is left), so a
    client that opens its keep-alive connections together often had them all served by
    one process while the other sat idle (ADR 33). uvicorn's supervisor still starts the
    processes, replaces one that dies and stops them on SIGINT/SIGTERM; each process
    opens its own socket as it starts (`PortShare`). The port is held, bound but not
    listening, for as long as they run, and taken only when nobody else has it.
    """
    reserved = reserve_port(host, port)
    try:
        message = "Uvicorn running on http://%s:%d (Press CTRL+C to quit), one socket a process"
        logging.getLogger("uvicorn.error").info(message, _url_host(host), port)
        shares = [cast(socket.socket, PortShare(host, port))]
        Multiprocess(config, sockets=shares).run()
    finally:
        reserved.close()


class PortShare:
    """What the supervisor hands each API process instead of a socket: the process, as
    it unpickles this, opens its own listening socket in the port's SO_REUSEPORT group."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listening_socket, (self.host, self.port)


def reserve_port(host: str, port: int) -> socket.socket:
    """The port, bound (not listening) in a SO_REUSEPORT group of this user's, after
    checking that no other socket holds it: a second `tris serve` on the same port
    stops with an error instead of sharing its connections."""
    with _socket(host) as probe:
        _bind(probe, host, port)
    sock = _socket(host, shared=True)
    _bind(sock, host, port)
    return sock


def _socket(host: str, *, shared: bool = False) -> socket.socket:
    """A TCP socket for `host`'s address family that may bind a port in TIME_WAIT and,
    when `shared`, join the port's SO_REUSEPORT group."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """An API process's own socket in the port's SO_REUSEPORT group, with Nagle's
    algorithm off.

    uvicorn with several workers leaves Nagle on for the connections they accept (its
    issue 3149): a response written in two parts then waits for the client's delayed
    ACK, about 40 ms on every keep-alive request. Accepted sockets inherit TCP_NODELAY
    from the listening socket, so it is set here, where the socket is made.
    """
    sock = _socket(host, shared=True)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _bind(sock, host, port)
    return sock


def welcome_block(services: Services, data: DemoData, base_url: str) -> str:
    """What a person needs to try the demo: docs, tokens, keys, and one request to make."""
    lines = [
        "TRIS demo data loaded.",
        f"  Portal:       {base_url}/",
        f"  Audit pages:  {base_url}/audit/login  (sign in with the auditor token)",
        f"  API docs:     {base_url}/docs",
        f"  Admin token:  {data.admin_token}",
        f"  Auditor token: {data.auditor_token}",
        "",
        "Demo parties (partner token, signing key id, base64 raw Ed25519 private key):",
    ]
    for party in data.parties:
        lines += [
            f"  {party.name} ({party.sector})",
            f"    id:           {party.party_id}",
            f"    token:        {party.token}",
            f"    key id:       {party.key_id}",
            f"    private key:  {party.private_key}",
        ]
    if data.markets:
        lines += ["", "Demo markets (GET /v1/markets/<id>, …/stats, …/follow-ups):"]
        lines += [f"  {market.title}: {market.market_id}" for market in data.markets]
    proposal = data.agreement("sichtbarkeit")
    view = services.agreements.get(cli_reader(), proposal.agreement_id)
    waiting = [p["party_id"] for p in view["parties"] if not p["signed"]]
    signer = next(p for p in data.parties if p.party_id == waiting[0])
    agreement_url = f"{base_url}/v1/agreements/{proposal.agreement_id}"
    lines += [
        "",
        f"Awaiting signatures: “{proposal.title}”",
        f"  id {proposal.agreement_id}, revision {view['revision']}, not yet signed by:",
        *(f"  - {p.name}" for p in data.parties if p.party_id in waiting),
        "",
        f"Try it: fetch the bytes {signer.name} signs,",
        f'  curl -s -H "Authorization: Bearer {signer.token}" \\',
        f"    {agreement_url}/revisions/{view['revision']}/signing-payload",
        'then POST {revision, key_id, signature} to …/signatures with If-Match: "<version>".',
        "",
    ]
    return "\n".join(lines)


def demo_exists_block(base_url: str) -> str:
    """Shown by `serve --demo` when the database has data already."""
    return "\n".join(
        [
            "The database holds data already (the demo data exists); nothing was loaded.",
            f"  Portal:    {base_url}/",
            f"  API docs:  {base_url}/docs",
            "  Make a token with:  tris admin create-token --role admin",
            "",
        ]
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
