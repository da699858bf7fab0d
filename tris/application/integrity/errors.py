"""Errors of the verifiable history, placed in the domain error tree for the interfaces::

NotFoundError
├── LogEntryNotFoundError      no event at that position in the Merkle log (404)
└── TreeNotFoundError          no tree of that size yet, or no such proof (404)
ConflictError
└── LogTamperedError           the stored log no longer matches a signed checkpoint (409)
"""

from __future__ import annotations

from tris.domain.errors import ConflictError, NotFoundError


class LogEntryNotFoundError(NotFoundError):
    """No event at this global position is in the Merkle log."""

    title = "Log entry not found"


class TreeNotFoundError(NotFoundError):
    """The log has no tree of that size yet, or no proof between the sizes asked for."""

    title = "Tree not found"


class LogTamperedError(ConflictError):
    """The stored log no longer matches what an earlier checkpoint signed: nothing is signed."""

    title = "Log does not match its checkpoints"
