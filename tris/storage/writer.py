"""One writer among the API processes of a server (ADR 38).

The processes of `tris serve --workers N` share a private directory. The first of them to
save takes the lock in it and becomes the *writer*: it listens on a Unix socket there and
commits the saves the others send it together with its own, in its group-committed
batches (ADR 25), so that one process numbers every batch — its predicted positions hold
and its read-model rows go out in each batch's own round trip (ADR 35). The others
forward each save (its stored events and what its checks need, pickled) and get back its
positions, or the error that refused it, once the batch is durable and its rows written.

A writer that dies releases the lock with its process: a save whose answer was lost fails
as a lost database connection does (503; the client retries with its Idempotency-Key),
and the next save of any process elects a writer anew. The directory is the server's own
(mode 0700): only its user may connect, and only its processes' saves are unpickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import select
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import IO, Any

from eventsourcing.persistence import OperationalError

from tris.config import ConfigurationError
from tris.storage.errors import WriterGoneError

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
# How long a process looks for a writer that holds the lock but does not listen yet.
FIND_WRITER_SECONDS = 2.0
# A save waits at most this long for its writer's answer (the request's deadline is
# shorter; a writer that hangs this long is taken for gone).
ANSWER_SECONDS = 60.0

# A Unix socket's path holds at most 107 bytes (Linux's sun_path, with its final NUL).
SOCKET_PATH_MAX = 108

Submit = Callable[[Any, frozenset[Hashable]], Any]


class SharedWriter:
    """A process's end of the shared writer: it is the writer, or forwards to it."""

    def __init__(self, directory: str | Path, submit: Submit) -> None:
        self.directory = Path(directory)
        _require_private(self.directory)
        self._submit = submit
        # Called in the writer for each forwarded save once it is durable, with its last
        # position: it makes the read models hold it (as the command's own process would
        # after its commit) and says whether they do, before the answer goes back.
        self.after_forwarded: Callable[[int], bool] | None = None
        # Called in a forwarding process with a forwarded save's last position when the
        # writer's read models hold it: the process need not catch up to it itself.
        self.held_elsewhere: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._lock_file: IO[str] | None = None
        self._server: socket.socket | None = None
        self._local = threading.local()
        self._closed = False
        self._serving: set[socket.socket] = set()  # the writer's connections from others
        self.forwarded = 0  # saves this process sent to the writer (for tests, benchmarks)
        self.served = 0  # saves this process committed for others

    @property
    def is_writer(self) -> bool:
        """Whether this process holds the writer's lock."""
        return self._server is not None

    # ------------------------------------------------------------------ saving

    def submit(self, payload: Any, keys: frozenset[Hashable]) -> Any:
        """Save `payload` here if this process is the writer, else through the writer."""
        if self._server is not None:
            return self._submit(payload, keys)
        connection: socket.socket | None = getattr(self._local, "connection", None)
        if connection is not None and _closed_by_peer(connection):
            # The writer closed it between two saves (it stopped, or its process ended):
            # nothing of this save reached it, so a writer is looked for again.
            self._drop_connection()
            connection = None
        if connection is None:
            # This thread's first save, or its first since the writer went away: a
            # process that finds no writer becomes it.
            if self._elect():
                return self._submit(payload, keys)
            try:
                connection = self._connect()
            except OSError:
                if self._elect():
                    return self._submit(payload, keys)
                raise WriterGoneError("no writer process answers at the moment") from None
        try:
            _send(connection, (payload, keys))
            kind, value, held = _receive(connection)
        except (OSError, EOFError, pickle.UnpicklingError, struct.error):
            self._drop_connection()
            # The save may or may not have committed: answered like a connection to the
            # database lost during its commit.
            raise WriterGoneError("the writer process went away during the save") from None
        self.forwarded += 1
        if kind == "error":
            raise value
        if held and value and self.held_elsewhere is not None:
            self.held_elsewhere(max(value))
        return value

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + FIND_WRITER_SECONDS
        while True:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.connect(str(self.directory / "writer.sock"))
            except OSError:
                connection.close()
                if self._elect() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)  # the writer holds the lock and is about to listen
                continue
            connection.settimeout(ANSWER_SECONDS)
            self._local.connection = connection
            return connection

    def _drop_connection(self) -> None:
        connection: socket.socket | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    # ------------------------------------------------------------------ the writer

    def _elect(self) -> bool:
        """Become the writer if no process holds the lock; whether this process is it."""
        with self._lock:
            if self._server is not None:
                return True
            if self._closed:
                return False
            lock_file = open(self.directory / "writer.lock", "a")  # noqa: SIM115
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock_file.close()
                return False
            path = self.directory / "writer.sock"
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a dead writer's
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.bind(str(path))
                server.listen(128)
            except OSError:
                server.close()
                lock_file.close()  # not the writer after all: the lock is free again
                raise
            self._lock_file, self._server = lock_file, server
        log.info("process %d writes for the server's processes", os.getpid())
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return True

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    connection.close()
                    return
                self._serving.add(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        """Commit one process thread's saves, one after another, answering each."""
        try:
            self._serve_saves(connection)
        finally:
            with self._lock:
                self._serving.discard(connection)
            connection.close()

    def _serve_saves(self, connection: socket.socket) -> None:
        while True:
            try:
                payload, keys = _receive(connection)
            except (OSError, EOFError, pickle.UnpicklingError, struct.error):
                return  # that thread's process closed it, or went away
            if self._closed:
                return  # stopped meanwhile: its pool is gone
            try:
                positions = self._submit(payload, keys)
            except Exception as error:  # the save's own refusal goes back to it
                answer: tuple[str, Any, bool] = ("error", _portable(error), False)
            else:
                self.served += 1
                answer = ("positions", positions, self._after(positions))
            try:
                _send(connection, answer)
            except OSError:
                return

    def _after(self, positions: Sequence[int] | None) -> bool:
        """Whether the read models hold the forwarded save's events."""
        if not positions or self.after_forwarded is None:
            return False
        try:
            return self.after_forwarded(max(positions))
        except Exception:  # the save stands; the read models catch up later
            log.exception("read models: catch-up after a forwarded save failed")
            return False

    def close(self) -> None:
        """Stop writing for others (the lock goes with it) and drop this thread's link."""
        with self._lock:
            self._closed = True
            server, self._server = self._server, None
            lock_file, self._lock_file = self._lock_file, None
            serving, self._serving = self._serving, set()
        for connection in serving:  # their processes find them closed before their next save
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if server is not None:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                (self.directory / "writer.sock").unlink()
        if lock_file is not None:
            lock_file.close()
        self._drop_connection()


def _require_private(directory: Path) -> None:
    """Refuse a directory another user could open: whoever can reach the socket sends
    pickles to the writer, or answers the others' saves with its own."""
    try:
        status = directory.stat()
    except OSError as error:
        raise ConfigurationError(
            f"the writer's directory {directory} is unusable: {error}"
        ) from None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
        raise ConfigurationError(f"the writer's directory {directory} is not this user's own")
    if len(os.fsencode(directory / "writer.sock")) >= SOCKET_PATH_MAX:
        raise ConfigurationError(
            f"the writer's directory {directory} is too long a path for a Unix socket"
        )
    if status.st_mode & 0o077:
        raise ConfigurationError(
            f"the writer's directory {directory} is open to other users (mode "
            f"{stat.S_IMODE(status.st_mode):o}); it must be 700"
        )


def _portable(error: Exception) -> Exception:
    """The error as the forwarding process can raise it: itself when it pickles, else a
    database error with its text (answered 503 there)."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (its own bytes)
    except Exception:
        return OperationalError(f"{type(error).__name__}: {error}")
    return error


def _closed_by_peer(connection: socket.socket) -> bool:
    """Whether the other end closed the connection: the writer never sends unasked, so a
    connection readable between two saves holds nothing but its end."""
    poll = select.poll()  # not select(): a server's descriptors may pass 1024
    poll.register(connection, select.POLLIN)
    return bool(poll.poll(0))


def _send(connection: socket.socket, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    connection.sendall(_LENGTH.pack(len(data)) + data)


def _receive(connection: socket.socket) -> Any:
    (length,) = _LENGTH.unpack(_exactly(connection, _LENGTH.size))
    return pickle.loads(_exactly(connection, length))  # noqa: S301 (the server's own processes)


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("the other end closed the connection")
        data += chunk
    return bytes(data)
