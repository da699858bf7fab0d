"""The whole error tree of TRIS, and the application's part of it.

Every error TRIS raises derives from `TrisError`. The domain's broken rules are listed in
full in `tris/domain/errors.py`; the HTTP layer maps each class to a status and a problem
type in one table (`tris/interfaces/http/errors.py`), the command line to an exit code in
another (`tris/interfaces/cli/errors.py`)::

    TrisError
    ├── DomainError                          a rule of the domain was broken (tris.domain.errors)
    │   ├── InvalidInputError                422, exit 2
    │   ├── NotFoundError                    404, exit 3
    │   ├── PermissionDeniedError            403, exit 4
    │   └── ConflictError                    409, exit 5
    ├── ApplicationError                     a request the use cases cannot serve as asked
    │   ├── RequestError                     the request itself cannot be applied (400)
    │   │   ├── VersionMismatchError         If-Match names another version (412)
    │   │   ├── ConcurrentUpdateError        a concurrent command won the race (409)
    │   │   │   └── StaleReadError           what a command read from the cache has changed
    │   │   │       └── UnverifiedKeptStateError  kept state no save checks (stays in the store)
    │   │   ├── IdempotencyKeyReusedError    same key, another request (422)
    │   │   ├── IdempotencyInFlightError     same key still being processed (409)
    │   │   ├── StreamLimitError             the token holds its most open streams (429)
    │   │   ├── ContentTooLargeError         content beyond TRIS_MAX_CONTENT_BYTES (413)
    │   │   ├── TooManyRevisionsError        revisions beyond TRIS_MAX_REVISIONS (422)
    │   │   └── HTTPProblemError             refused by the HTTP layer (interfaces/http/errors.py)
    │   │       ├── AuthenticationRequiredError      401
    │   │       ├── MalformedHeaderError             400
    │   │       ├── ControlCharacterError            422 (in a query parameter)
    │   │       │   └── ControlCharacterPathError    404 (in the path: no such resource)
    │   │       ├── RepeatedQueryParameterError      422 (a query parameter given twice)
    │   │       ├── PreconditionRequiredError        428
    │   │       ├── PayloadTooLargeError             413
    │   │       ├── RateLimitedError                 429
    │   │       ├── ReadModelsBehindError            503
    │   │       └── ServiceUnavailableError          503
    │   ├── ResourceNotFoundError            404, exit 3
    │   │   ├── TokenNotFoundError           no token with this id
    │   │   ├── LogEntryNotFoundError        no event at that position in the Merkle log
    │   │   └── TreeNotFoundError            no tree of that size yet, or no such proof
    │   ├── StateConflictError               409, exit 5
    │   │   ├── CheckpointPendingError       no signed checkpoint covers it yet (409)
    │   │   ├── TokenAlreadyIssuedError      issued under this key before replays existed
    │   │   ├── LogTamperedError             the stored log no longer matches a checkpoint
    │   │   ├── ReplayTargetNotEmptyError    a replay needs an empty store
    │   │   └── ExportIntegrityError         an export's events do not verify
    │   └── UnreadableExportError            422, exit 2
    │       ├── ExportFormatError            not a TRIS export this version reads
    │       ├── ForeignEventTypeError        an event type that is not TRIS's own (replay)
    │       └── PartialExportError           an export after position 0 cannot seed a store
    ├── StorageError                         the database failed us (tris.storage.errors)
    │   ├── StorageUnavailableError          unreachable or unusable (503, exit 1)
    │   │   └── WriterGoneError              the API processes' writer went away (ADR 38)
    │   ├── ProjectionFailedError            a read model cannot apply an event (503, exit 1)
    │   ├── PersonalDataErasedError          an erased person's data cannot be kept again (409)
    │   └── PersonalDataKeyError             a person's key does not unwrap (503, exit 1)
    └── ConfigurationError                   TRIS cannot run as configured (tris.config; exit 2)
        ├── DatabaseURLError                 TRIS_DATABASE_URL is not a URL TRIS understands
        └── ServerKeyError                   the server key is missing or unusable
"""

from __future__ import annotations

from tris.config import ConfigurationError
from tris.domain.errors import TrisError


class ApplicationError(TrisError):
    """A request the use cases cannot serve as asked (not a rule of the domain)."""

    title = "Request cannot be served"


class RequestError(ApplicationError):
    """A command cannot be applied as sent, whatever the domain's state."""

    title = "Request cannot be applied"


class VersionMismatchError(RequestError):
    """The client's expected version (If-Match) is not the aggregate's current version."""

    title = "Version mismatch"


class ConcurrentUpdateError(RequestError):
    """Another command changed the same aggregate at the same moment; retry."""

    title = "Concurrent update"


class StaleReadError(ConcurrentUpdateError):
    """An aggregate the command read from its process's cache, and did not change, has a
    later version in the store; the command is decided once more without the cache."""


class UnverifiedKeptStateError(StaleReadError):
    """A command decided on kept state that its save cannot check (it saves nothing, or
    it names no version and changes what it kept): decided once more on the store's
    state, before anything is written (`EventStore.execute`)."""


class IdempotencyKeyReusedError(RequestError):
    """An Idempotency-Key was used before with a different request."""

    title = "Idempotency key reused"


class IdempotencyInFlightError(RequestError):
    """A request with the same Idempotency-Key is still being processed."""

    title = "Request in flight"


class StreamLimitError(RequestError):
    """The token holds as many streams open as it may (live, NDJSON, exports)."""

    title = "Too many open streams"


class ContentTooLargeError(RequestError):
    """An agreement's content is larger than the configured bound (413)."""

    title = "Content too large"


class TooManyRevisionsError(RequestError):
    """An agreement has as many revisions as the configured bound allows (422)."""

    title = "Too many revisions"


class ResourceNotFoundError(ApplicationError):
    """Something the application keeps (not a domain object) does not exist."""

    title = "Not found"


class TokenNotFoundError(ResourceNotFoundError):
    """No token with this id exists."""

    title = "Token not found"


class LogEntryNotFoundError(ResourceNotFoundError):
    """No event at this global position is in the Merkle log."""

    title = "Log entry not found"


class TreeNotFoundError(ResourceNotFoundError):
    """The log has no tree of that size yet, or no proof between the sizes asked for."""

    title = "Tree not found"


class StateConflictError(ApplicationError):
    """What is stored does not allow this now."""

    title = "Conflict"


class CheckpointPendingError(StateConflictError):
    """No signed checkpoint covers these events yet: checkpoints are signed on schedule or
    by an admin, never because a reader asked."""

    title = "Checkpoint pending"


class TokenAlreadyIssuedError(StateConflictError):
    """A token was issued under this Idempotency-Key before replays were possible."""

    title = "Token already issued"


class LogTamperedError(StateConflictError):
    """The stored log no longer matches what an earlier checkpoint signed: nothing is signed."""

    title = "Log does not match its checkpoints"


class ReplayTargetNotEmptyError(StateConflictError):
    """A replay needs a store without any event; this one has some."""

    title = "Replay target is not empty"


class ExportIntegrityError(StateConflictError):
    """An export's events are out of order or do not match their hashes (names the position)."""

    title = "Export does not verify"


class UnreadableExportError(ApplicationError):
    """A file given as an export cannot be read as one."""

    title = "Unreadable export"


class ForeignEventTypeError(UnreadableExportError):
    """An export names an event type that is not one of TRIS's own (nothing is imported)."""

    title = "Foreign event type"


class ExportFormatError(UnreadableExportError):
    """A file is not a TRIS export this version can read (the message names the line)."""

    title = "Not a TRIS export"


class PartialExportError(UnreadableExportError):
    """An export that starts after position 0 cannot seed a fresh store on its own."""

    title = "Partial export"


class ServerKeyError(ConfigurationError):
    """The server key is not configured, cannot be read, or is not an Ed25519 key."""

    title = "Server key unusable"
