"""Settings of TRIS, read from the environment (prefix TRIS_) by a function, never at import."""

from __future__ import annotations

from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tris.domain.errors import TrisError

DEFAULT_DATABASE_URL = "sqlite:///./tris.db"


# Set by `tris serve --workers N` for its API processes (`Settings.writer_dir`, ADR 38).
WRITER_DIR_ENV = "TRIS_WRITER_DIR"


class Settings(BaseSettings):
    """Validated configuration of one TRIS process."""

    model_config = SettingsConfigDict(env_prefix="TRIS_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path (default ./tris.db) or postgresql://user:pass@host:port/db",
    )
    snapshot_interval: int = Field(default=50, ge=2, le=100_000)
    rate_limit_per_minute: int = Field(default=6000, ge=1)
    max_content_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="The most bytes an agreement's content may take (its canonical JSON)",
    )
    max_revisions: int = Field(
        default=200, ge=2, description="The most revisions (and amendments) one agreement may have"
    )
    max_streams_per_token: int = Field(
        default=4,
        ge=1,
        description="Streams (live, NDJSON, exports) one token may hold open in one process",
    )
    ocid_prefix: str = Field(
        default="ocds-tris00",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9-]+$",
        description="The Open Contracting ID prefix of this publisher (ocids are the prefix, "
        "a hyphen and the agreement id); the default is a placeholder: register a prefix "
        "with the Open Contracting Partnership before publishing for real",
    )
    ocds_publisher: str = Field(
        default="TRIS",
        min_length=1,
        max_length=200,
        description="The publisher named in OCDS packages",
    )
    anonymous_rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description="Requests a minute one client address may send without a valid token "
        "(public pages, unknown or missing tokens)",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        description="How long the first answer to an Idempotency-Key is kept for retries",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    server_key_file: str | None = Field(
        default=None,
        description="Ed25519 key (PEM) signing checkpoints; default <sqlite file>.server-key, "
        "required for PostgreSQL",
    )
    checkpoint_interval_seconds: float = Field(default=300, ge=0)
    projections: Literal["inline", "worker", "auto"] = Field(
        default="auto",
        description="inline: each command updates the read models itself; worker: "
        "`tris worker` processes do and commands wait for them; auto: wait for workers "
        "while one is alive, else update inline",
    )
    writer_dir: str | None = Field(
        default=None,
        description="A private directory the API processes of one server share: the "
        "first to save writes for all (ADR 38; set by `tris serve --workers N`)",
    )
    read_your_writes_timeout: float = Field(default=5.0, ge=0, le=60)
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry spans and metrics, through the global "
        "providers an operator configures (off: no cost per request)",
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="seconds a request may take before it is answered 503 with Retry-After",
    )
    stream_max_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="seconds a live event stream stays open; the client then reconnects "
        "with Last-Event-ID and misses nothing",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parse_database_url(value)
        return value


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]


class ConfigurationError(TrisError):
    """The process is configured in a way TRIS cannot run with."""

    title = "Configuration error"


class DatabaseURLError(ConfigurationError, ValueError):
    """TRIS_DATABASE_URL is not a URL TRIS understands (a ValueError for the settings)."""

    title = "Invalid database URL"


def _port(parts: SplitResult) -> int:
    """The URL's port (5432 when absent), or DatabaseURLError when it is no port."""
    try:
        return parts.port or 5432
    except ValueError:
        raise DatabaseURLError(
            "the port of the database URL must be a number from 1 to 65535"
        ) from None


def parse_database_url(url: str) -> tuple[str, dict[str, str]]:
    """Split a database URL into its backend name and connection parts."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # As in SQLAlchemy: sqlite:///relative/path, sqlite:////absolute/path.
        path = url[len("sqlite://") :].removeprefix("/")
        if not path or path == ":memory:":
            raise DatabaseURLError("a SQLite URL needs a file path: sqlite:///path/to/tris.db")
        return "sqlite", {"path": path}
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise DatabaseURLError("a PostgreSQL URL must name a database: postgresql://…/DBNAME")
        return "postgres", {
            "host": parts.hostname or "127.0.0.1",
            "port": str(_port(parts)),
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "dbname": dbname,
        }
    raise DatabaseURLError(
        f"unsupported database URL scheme {parts.scheme!r}: use sqlite:///path or postgresql://…"
    )
