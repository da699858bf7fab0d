"""Throwaway PostgreSQL clusters (and external servers) for tests and benchmarks."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

StopMode = Literal["smart", "fast", "immediate"]

_PG_LIB_ROOT = Path("/usr/lib/postgresql")
_SYSTEM_USER = "postgres"
_SUPERUSER = "postgres"
_COMMAND_TIMEOUT = 120.0
_CONNECT_TIMEOUT = 10
_LOG_TAIL_LINES = 40
_START_ATTEMPTS = 3


class PostgresServer(Protocol):
    """What tests need from a PostgreSQL server: URLs and fresh databases."""

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database, used to create and drop databases."""
        ...

    def url(self, dbname: str) -> str:
        """URL of the database ``dbname`` on this server."""
        ...

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database and return its URL."""
        ...

    def drop_database(self, name: str) -> None:
        """Drop the database ``name`` (if it exists), disconnecting its sessions."""
        ...


def random_database_name() -> str:
    """Return a fresh database name of the form ``t_<32 hex digits>``."""
    return f"t_{uuid.uuid4().hex}"


def _create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _replace_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


class ExternalPostgres:
    """An already running PostgreSQL server (e.g. from ``TRIS_TEST_POSTGRES_URL``)."""

    def __init__(self, admin_url: str) -> None:
        """Use the server behind ``admin_url``, whose user may create databases."""
        parts = urlsplit(admin_url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {admin_url!r}")
        self._admin_url = admin_url
        self.port: int = parts.port or 5432

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database, used to create and drop databases."""
        return self._admin_url

    def url(self, dbname: str) -> str:
        """URL of the database ``dbname`` on this server."""
        return _replace_dbname(self._admin_url, dbname)

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database and return its URL."""
        name = name or random_database_name()
        _create_database(self._admin_url, name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop the database ``name`` (if it exists), disconnecting its sessions."""
        _drop_database(self._admin_url, name)

    def start(self) -> None:
        """Check that the server accepts connections."""
        with psycopg.connect(self._admin_url, connect_timeout=_CONNECT_TIMEOUT):
            pass

    def stop(self) -> None:
        """Do nothing: the server is not ours to stop."""

    def __enter__(self) -> Self:
        """Check the server and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Do nothing: the server is not ours to stop."""
        self.stop()


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (-1,)


def find_postgres_bin_dir() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl`` (highest installed version)."""
    candidates = sorted(
        (d for d in _PG_LIB_ROOT.glob("*/bin") if (d / "initdb").is_file()),
        key=lambda d: _version_key(d.parent),
        reverse=True,
    )
    for bin_dir in candidates:
        if (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb = shutil.which("initdb")
    if initdb is not None:
        bin_dir = Path(initdb).resolve().parent
        if (bin_dir / "pg_ctl").is_file() or shutil.which("pg_ctl") is not None:
            return bin_dir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under "
        f"{_PG_LIB_ROOT}/*/bin or on PATH; install PostgreSQL "
        "(e.g. 'apt-get install -y postgresql') or set TRIS_TEST_POSTGRES_URL."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory, removed on ``stop()``."""

    def __init__(self, durable: bool = False, bin_dir: Path | None = None) -> None:
        """Prepare (but do not start) a cluster; ``durable=False`` turns fsync & co. off."""
        self.durable = durable
        self._bin_dir = bin_dir
        self._as_root = os.geteuid() == 0
        self._tmpdir: Path | None = None
        self._port: int | None = None
        self._started = False
        self._server_running = False

    # -- properties ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 the server listens on."""
        if self._port is None:
            raise RuntimeError("ThrowawayPostgres has not been started")
        return self._port

    @property
    def directory(self) -> Path:
        """Temporary directory holding the data directory, log and socket."""
        if self._tmpdir is None:
            raise RuntimeError("ThrowawayPostgres has not been started")
        return self._tmpdir

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        """The server log file."""
        return self.directory / "log"

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database ``postgres`` as superuser ``postgres``."""
        return self.url("postgres")

    def url(self, dbname: str) -> str:
        """URL of the database ``dbname`` on this cluster."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    # -- databases ------------------------------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database (random ``t_<hex>`` name by default); return its URL."""
        name = name or random_database_name()
        _create_database(self.admin_url, name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop the database ``name`` (if it exists), disconnecting its sessions."""
        _drop_database(self.admin_url, name)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster with initdb and start the server; no-op if already started."""
        if self._started:
            return
        bin_dir = self._bin_dir or find_postgres_bin_dir()
        missing = [name for name in ("initdb", "pg_ctl") if not (bin_dir / name).is_file()]
        if missing:
            raise RuntimeError(f"PostgreSQL binaries {missing} not found in {bin_dir}")
        self._bin_dir = bin_dir
        self._tmpdir = Path(tempfile.mkdtemp(prefix="tris-pg-"))
        self._started = True
        atexit.register(self.stop)
        try:
            if self._as_root:
                try:
                    pw = pwd.getpwnam(_SYSTEM_USER)
                except KeyError:
                    raise RuntimeError(
                        f"running as root but there is no '{_SYSTEM_USER}' system user "
                        "to run initdb/pg_ctl as"
                    ) from None
                os.chown(self._tmpdir, pw.pw_uid, pw.pw_gid)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    _SUPERUSER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                "initdb",
            )
            self._start_on_free_port()
        except BaseException:
            with contextlib.suppress(RuntimeError):
                self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast, else immediate) and remove the temporary directory."""
        if not self._started:
            return
        error: RuntimeError | None = None
        try:
            if self._server_running or self.is_running():
                self.stop_server()
        except RuntimeError as exc:
            error = exc
            self._kill_postmaster()
        finally:
            self._started = False
            self._server_running = False
            atexit.unregister(self.stop)
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
        if error is not None:
            raise error

    def start_server(self) -> None:
        """Start the server of an existing cluster again, on the same port and data."""
        self._require_started()
        self._pg_ctl(["start", *self._start_args()], "pg_ctl start")
        self._server_running = True

    def stop_server(self, mode: StopMode = "fast") -> None:
        """Stop the server but keep the data; falls back to immediate mode if ``mode`` fails."""
        self._require_started()
        try:
            self._pg_ctl(["stop", "-m", mode, "-w", "-t", "60"], f"pg_ctl stop -m {mode}")
        except RuntimeError:
            if not self.is_running():
                pass  # already down, e.g. killed by a chaos test
            elif mode == "immediate":
                raise
            else:
                self._pg_ctl(
                    ["stop", "-m", "immediate", "-w", "-t", "60"], "pg_ctl stop -m immediate"
                )
        self._server_running = False

    def crash(self, timeout: float = 30.0) -> None:
        """Kill the server as a crash would: SIGKILL to the postmaster and every process it
        started, nothing flushed or shut down; the data stays for crash recovery."""
        self._require_started()
        pid = self._postmaster_pid()
        if pid is None:
            raise RuntimeError("no running postmaster to crash")
        family = [pid, *_children(pid)]
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while any(_alive(member) for member in family):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL processes {family} outlived SIGKILL")
            time.sleep(0.05)
        self._server_running = False

    def settings(self, *names: str) -> dict[str, str]:
        """The values of server settings (for a test that must know it runs durably)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return {
                name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in names
            }

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        return None

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -w``) on the same port, keeping the data."""
        self._require_started()
        self._pg_ctl(["restart", "-m", "fast", *self._start_args()], "pg_ctl restart")
        self._server_running = True

    def is_running(self) -> bool:
        """Whether ``pg_ctl status`` reports a running server for this cluster."""
        if self._tmpdir is None or self._bin_dir is None:
            return False
        completed = subprocess.run(
            self._as_postgres([str(self._bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            text=True,
            cwd=self._tmpdir,
            env=self._env(),
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )
        return completed.returncode == 0

    def __enter__(self) -> Self:
        """Start the cluster and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the cluster and remove its directory."""
        self.stop()

    # -- internals ------------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("ThrowawayPostgres has not been started (or was stopped)")

    def _kill_postmaster(self) -> None:
        """Last resort when pg_ctl cannot stop the server: SIGKILL our own postmaster."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def _start_on_free_port(self) -> None:
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._port = _free_port()
            try:
                self.start_server()
                return
            except RuntimeError:
                # Another process may have grabbed the port between probing and binding.
                if attempt == _START_ATTEMPTS or "could not bind" not in self._log_tail():
                    raise

    def _start_args(self) -> list[str]:
        switch = "on" if self.durable else "off"
        options = [
            f"-p {self.port}",
            f"-k {shlex.quote(str(self.directory))}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=300",
            f"-c fsync={switch}",
            f"-c synchronous_commit={switch}",
            f"-c full_page_writes={switch}",
        ]
        return ["-w", "-t", "60", "-l", str(self.log_path), "-o", " ".join(options)]

    def _pg_ctl(self, args: Sequence[str], what: str) -> None:
        if self._bin_dir is None:
            raise RuntimeError("ThrowawayPostgres has not been started")
        self._run([str(self._bin_dir / "pg_ctl"), *args, "-D", str(self.data_dir)], what)

    def _as_postgres(self, argv: Sequence[str]) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", _SYSTEM_USER, "--", *argv]
        return list(argv)

    def _env(self) -> dict[str, str]:
        # Keep the caller's PG* settings (PGDATA, PGPORT, ...) away from initdb/pg_ctl.
        return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def _run(self, argv: Sequence[str], what: str) -> None:
        command = self._as_postgres(argv)
        try:
            subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=True,
                cwd=self._tmpdir,
                env=self._env(),
                timeout=_COMMAND_TIMEOUT,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                self._failure_message(what, command, f"exit status {exc.returncode}", exc)
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                self._failure_message(what, command, f"timed out after {exc.timeout}s", exc)
            ) from exc
        except OSError as exc:
            raise RuntimeError(f"{what} could not be run ({shlex.join(command)}): {exc}") from exc

    def _failure_message(
        self,
        what: str,
        command: Sequence[str],
        reason: str,
        exc: subprocess.CalledProcessError | subprocess.TimeoutExpired,
    ) -> str:
        def text(value: str | bytes | None) -> str:
            if isinstance(value, bytes):
                return value.decode(errors="replace")
            return value or ""

        return (
            f"{what} failed ({reason}): {shlex.join(command)}\n"
            f"--- stdout ---\n{text(exc.stdout).strip()}\n"
            f"--- stderr ---\n{text(exc.stderr).strip()}\n"
            f"--- server log (last {_LOG_TAIL_LINES} lines) ---\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self._tmpdir is None:
            return "(no log)"
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").splitlines()
            return "\n".join(lines[-_LOG_TAIL_LINES:])
        return "(no log)"


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """True while a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
