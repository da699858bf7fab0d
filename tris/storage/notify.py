"""Telling the other processes that the log grew: PostgreSQL's LISTEN/NOTIFY.

NOTIFY is sent by each process's head watcher on a connection of its own, after the
commits it announces, never inside a write transaction: a NOTIFY there would take, at
commit, a lock that makes every write wait for every other (ADR 18). One announcement
covers every commit of the process since the last one. SQLite has no such channel; its
watcher reads the head instead.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

import psycopg

from tris.storage.postgres import CONNECT_TIMEOUT

CHANNEL = "tris_log_head"


class PostgresHeadChannel:
    """One LISTEN connection: announce this process's head, hear the others'."""

    def __init__(self, parts: dict[str, str]) -> None:
        self._parts = parts
        self._conn: psycopg.Connection[Any] | None = None
        # Announcements that arrived while this connection sent one of its own: psycopg
        # keeps them aside, so the socket no longer shows them.
        self._aside: int | None = None
        # Set while the connection listens: announcements sent from then on are heard.
        self.listening = threading.Event()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(
                host=self._parts["host"],
                port=int(self._parts["port"]),
                user=self._parts["user"],
                password=self._parts["password"],
                dbname=self._parts["dbname"],
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="tris-head-watcher",
            )
            conn.execute(f"LISTEN {CHANNEL}")
            self._conn = conn
            self.listening.set()
        return self._conn

    def announce(self, position: int) -> None:
        """Tell every listening process that the log reaches `position`."""
        conn = self._connection()
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(position)))
        self._aside = _received(conn, self._aside)

    def wait(self, timeout: float, wake: socket.socket | None = None) -> int | None:
        """Wait up to `timeout` seconds for an announcement, sleeping on the connection's
        socket (and on `wake`, which ends the wait early); the highest position heard, None
        when nothing was announced."""
        conn = self._connection()
        heard, self._aside = self._aside, None
        if heard is not None:
            return heard
        # poll, not select: a busy server's descriptors go past select's limit (1024).
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if wake is not None:
            poller.register(wake.fileno(), select.POLLIN)
        ready = poller.poll(timeout * 1000)
        if any(fd == conn.fileno() for fd, _ in ready):  # readable, or closed by the server
            heard = _received(conn, None)
        return heard

    def close(self) -> None:
        """Drop the connection (the next use opens another)."""
        self.listening.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _received(conn: psycopg.Connection[Any], heard: int | None) -> int | None:
    """The highest position among the announcements the connection has received, without
    waiting for more."""
    for note in conn.notifies(timeout=0.0):
        heard = _position(note.payload, heard)
    return heard


def _position(payload: str, heard: int | None) -> int | None:
    try:
        position = int(payload)
    except ValueError:  # not one of ours
        return heard
    return position if heard is None else max(heard, position)
