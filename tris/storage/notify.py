"""Telling the other processes that the log grew: PostgreSQL's LISTEN/NOTIFY.

NOTIFY is sent by each process's head watcher on a connection of its own, after the
commits it announces, never inside a write transaction: a NOTIFY there would take, at
commit, a lock that makes every write wait for every other (ADR 18). One announcement
covers every commit of the process since the last one. SQLite has no such channel; its
watcher reads the head instead.
"""

from __future__ import annotations

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
        self._connection().execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(position)))

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for an announcement; the highest position heard
        (None when nothing was announced)."""
        heard: int | None = None
        conn = self._connection()
        for note in conn.notifies(timeout=timeout, stop_after=1):
            heard = _position(note.payload, heard)
        for note in conn.notifies(timeout=0.0):  # whatever else has arrived meanwhile
            heard = _position(note.payload, heard)
        return heard

    def close(self) -> None:
        """Drop the connection (the next use opens another)."""
        self.listening.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _position(payload: str, heard: int | None) -> int | None:
    try:
        position = int(payload)
    except ValueError:  # not one of ours
        return heard
    return position if heard is None else max(heard, position)
