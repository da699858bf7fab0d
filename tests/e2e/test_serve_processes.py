"""`tris serve --workers 2`: each API process accepts on a socket of its own (ADR 33).

On one shared socket the process that woke first took every connection waiting, so a
client opening its keep-alive connections together was often served by one process
alone; with a socket a process the kernel spreads them.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import (
    ESTABLISHED,
    LISTENING,
    run_tris,
    serve_command,
    served,
    sockets_by_process,
)

CONNECTIONS = 32


def wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def health(connection: socket.socket) -> bytes:
    """One keep-alive request on a raw connection; its answer's first bytes."""
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: tris\r\n\r\n")
    return connection.recv(4096)


@pytest.mark.postgres
def test_each_api_process_accepts_on_its_own_socket(postgres_cluster: Any, tmp_path: Path) -> None:
    url = str(postgres_cluster.create_database())
    with served(url, tmp_path, workers=2) as (base_url, _):
        port = int(base_url.rsplit(":", 1)[1])
        wait_for(
            lambda: len(sockets_by_process(port, LISTENING)) == 2,
            "two API processes, each listening on a socket of its own",
        )
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            assert all(health(c).startswith(b"HTTP/1.1 200") for c in connections)
            serving = sockets_by_process(port, ESTABLISHED)
            # Both processes hold some of the connections (all on one: 2 in 2^32 runs).
            assert len(serving) == 2, serving
            assert sum(serving.values()) == CONNECTIONS
        finally:
            for connection in connections:
                connection.close()

        # The port is taken: a second server on it stops with one line instead of sharing.
        second = run_tris(url, tmp_path, *serve_command(port, 2)[3:])
        assert second.returncode == 2, second.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "Traceback" not in second.stderr
